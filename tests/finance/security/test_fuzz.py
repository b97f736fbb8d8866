"""No input to any URL produces a 500: every route the resolver serves, fuzzed.

For every URL pattern (`routes.all_routes()`: views added later are covered without
touching this file), as an anonymous visitor, a user with data, a staff member and a
superuser: hostile query strings (admin list filters, search, date hierarchy, paging),
form bodies (every field name the route's own page shows, and the admin's filters) and
JSON bodies (NUL bytes, 10,000-character strings, deep nesting, huge and negative
numbers, invalid UTF-8, wrong types), plus hostile headers. Every answer must be < 500.

Two parts: a deterministic sweep sends the same hostile set to every route (so no route
is skipped by chance), and Hypothesis explores combinations (derandomized: the same
examples each run; `FUZZ_EXAMPLES=N` explores more). Plaid is faked (`fake_plaid`,
`webhook_keys`); refreshes are captured, never published. Run it on PostgreSQL too: NUL
bytes and overlong values fail only there.
"""

from __future__ import annotations

import json
import os
import re
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from django.contrib import admin
from django.contrib.admin.filters import SimpleListFilter
from django.contrib.auth.models import User
from django.test import Client
from django.urls import NoReverseMatch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.factories import UserFactory
from tests.finance.security.conftest import Tenant, make_tenant
from tests.finance.security.routes import Route, all_routes, default_values

pytestmark = pytest.mark.django_db

ROUTES = all_routes()
PERSONAS = ("anonymous", "user", "staff", "superuser")
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "60"))

LONG = "x" * 10_000
HUGE = "99999999999999999999"
HOSTILE_TEXT = [
    "\x00",
    "a\x00b",
    LONG,
    "\x00" * 300,
    HUGE,
    "-" + HUGE,
    "-1",
    "0",
    "1e309",
    "NaN",
    "9" * 5000,
    "2025-02-30",
    "9999-12-31",
    "99999",
    "'\"<>&;--",
    "../../etc/passwd",
    " ",
    "",
    "\u202e\ufeff\U0001f600",
]
# Values no text can stand for: sent percent-encoded as they are.
INVALID_UTF8 = [b"\xff\xfe", b"\xc3\x28", b"\xed\xa0\x80", b"\x80" * 100]
# Keys the app's JSON views read (Link, update mode, webhooks), and a few more.
JSON_KEYS = [
    "public_token",
    "metadata",
    "institution",
    "institution_id",
    "name",
    "accounts",
    "id",
    "mask",
    "link_session_id",
    "mode",
    "webhook_type",
    "webhook_code",
    "item_id",
    "error",
    "error_code",
    "account_ids",
    "consent_expiration_time",
    "new_webhook",
    "environment",
    "main_currency",
    "scope",
    "token",
]
# The admin's list parameters (search, ordering, page, facets, popups, to-field).
ADMIN_PARAMS = ["q", "o", "p", "e", "all", "_facets", "_popup", "_to_field", "_changelist_filters"]
LOOKUP_SUFFIXES = ["", "__exact", "__in", "__isnull", "__gte", "__lt", "__iexact"]


# --- What each route takes -----------------------------------------------------------------


def admin_filter_params() -> list[str]:
    """Every list-filter and date-hierarchy parameter of every registered ModelAdmin."""
    names: set[str] = set(ADMIN_PARAMS)
    for model_admin in admin.site._registry.values():
        for entry in model_admin.list_filter:
            if isinstance(entry, type) and issubclass(entry, SimpleListFilter):
                names.add(entry.parameter_name)
                continue
            path = entry[0] if isinstance(entry, list | tuple) else entry
            names.update(f"{path}{suffix}" for suffix in LOOKUP_SUFFIXES)
            names.add(f"{path}__id__exact")
        if model_admin.date_hierarchy:
            names.update(
                f"{model_admin.date_hierarchy}__{part}" for part in ("year", "month", "day")
            )
    return sorted(names)


ADMIN_FILTER_PARAMS = admin_filter_params()
FIELD_NAME = re.compile(r'name="([^"]{1,80})"')


@dataclass
class World:
    clients: dict[str, Client]
    tenant: Tenant
    ids: list[int]
    fields: dict[str, list[str]]  # route -> field names its page shows (any persona)
    statuses: set[int] = field(default_factory=set)  # every status answered so far


def _client(user: User | None) -> Client:
    client = Client(raise_request_exception=False)
    if user is not None:
        client.force_login(user)
    return client


def _url(route: Route, values: dict[str, Any]) -> str:
    try:
        return route.url(values)
    except NoReverseMatch:
        return route.url(default_values(route))


def _page_fields(client: Client, route: Route, ids: list[int]) -> list[str]:
    """Return the input names of the route's page, as a user with data sees it."""
    url = _url(route, {**default_values(route), **dict.fromkeys(route.int_params, ids[0])})
    if route.params and not route.int_params:
        url = _url(route, {**default_values(route), "object_id": str(ids[0])})
    response = client.get(url)
    if response.status_code != 200:
        return []
    # Streamed pages too (the dashboard streams its HTML; the CSV exports hold no field).
    raw = b"".join(response.streaming_content) if response.streaming else response.content
    return sorted(set(FIELD_NAME.findall(raw.decode(errors="replace"))))


@pytest.fixture
def world(fake_plaid: Any, webhook_keys: Any, queued_refreshes: Any) -> World:
    tenant = make_tenant(
        "fuzzy", base=3000, names=("Fuzz Checking", "Fuzz Savings", "F"), institution="Fuzzbank"
    )
    fake_plaid.add_item(tenant.item.access_token)
    staff = UserFactory(username="fuzz-staff", is_staff=True)
    root = UserFactory(username="fuzz-root", is_staff=True, is_superuser=True)
    users = {"anonymous": None, "user": tenant.user, "staff": staff, "superuser": root}
    clients = {name: _client(user) for name, user in users.items()}
    ids = [*tenant.ids(), tenant.user.pk, staff.pk, root.pk]
    fields: dict[str, list[str]] = {}
    for route in ROUTES:
        client = clients["superuser" if route.is_admin else "user"]
        fields[route.route] = _page_fields(client, route, ids)
    return World(clients=clients, tenant=tenant, ids=ids, fields=fields)


def _names(world: World, route: Route) -> list[str]:
    names = world.fields.get(route.route, [])
    if route.is_admin:
        names = [*names, *ADMIN_FILTER_PARAMS]
    return names or ["q"]


# --- Sending -------------------------------------------------------------------------------


def _encode(pairs: list[tuple[str, str | bytes]]) -> str:
    return "&".join(
        urllib.parse.quote(k, safe="")
        + "="
        + (
            urllib.parse.quote_from_bytes(v, safe="")
            if isinstance(v, bytes)
            else urllib.parse.quote(v, safe="", errors="surrogatepass")
        )
        for k, v in pairs
    )


def send(
    world: World,
    persona: str,
    route: Route,
    *,
    method: str,
    values: dict[str, Any],
    query: list[tuple[str, str | bytes]] = (),  # type: ignore[assignment]
    body: bytes = b"",
    content_type: str = "application/x-www-form-urlencoded",
    headers: dict[str, str] | None = None,
) -> None:
    """Send one request; fail if the answer is a 5xx."""
    url = _url(route, values)
    client = world.clients[persona]
    extra = {"QUERY_STRING": _encode(list(query))}
    if method == "get":
        response = client.get(url, headers=headers or {}, **extra)
    else:
        response = client.generic(
            method.upper(), url, body, content_type=content_type, headers=headers or {}, **extra
        )
    world.statuses.add(response.status_code)
    assert response.status_code < 500, (
        f"{method.upper()} {url}?{extra['QUERY_STRING'][:300]} as {persona} "
        f"({content_type}, {len(body)} bytes: {body[:300]!r}) -> {response.status_code}"
    )
    if persona != "anonymous" and not response.wsgi_request.user.is_authenticated:
        # The request logged the client out (logout, password change): sign in again.
        user = User.objects.filter(
            username={"user": "fuzzy", "staff": "fuzz-staff", "superuser": "fuzz-root"}[persona]
        ).first()
        world.clients[persona] = _client(user)


def _fill(route: Route, world: World, value: Any) -> dict[str, Any]:
    values = default_values(route, int_value=world.tenant.item.pk)
    for name in route.params:
        if name not in route.int_params and name not in ("app_label", "url", "group"):
            values[name] = value
    return values


DEEP_JSON = [b"[" * 5000 + b"]" * 5000, b'{"a":' * 5000 + b"1" + b"}" * 5000]


def _spread(names: list[str], values: list[Any], offset: int) -> list[tuple[str, Any]]:
    """Give each name one of `values` (rotated by `offset`): one request carries many."""
    return [(n, values[(i + offset) % len(values)]) for i, n in enumerate(names)]


def hostile_requests(route: Route, world: World) -> Iterator[dict[str, Any]]:
    """The fixed hostile set every route gets, as `send` keyword arguments (about 10)."""
    names = _names(world, route)
    values = _fill(route, world, str(world.tenant.item.pk))
    # Each round mixes every hostile value over the names; then one value everywhere, so
    # no field is left valid beside it. A POST carries a hostile query string too.
    hostile = [*HOSTILE_TEXT, *INVALID_UTF8]
    yield {"method": "get", "values": values, "query": _spread(names, hostile, 0)}
    pairs = _spread(names, hostile, 11)
    yield {"method": "post", "values": values, "query": pairs[:8], "body": _encode(pairs).encode()}
    yield {"method": "get", "values": values, "query": [(n, "\x00") for n in names]}
    yield {"method": "post", "values": values, "body": _encode([(n, LONG) for n in names]).encode()}
    json_bodies = [
        DEEP_JSON[len(route.route) % 2],
        b"\xff\xfe{}",
        json.dumps({k: "\x00" for k in JSON_KEYS}).encode(),
        json.dumps(
            dict(_spread(JSON_KEYS, [LONG, -(10**30), 10**30, [[[{}]]], 1.5, True, None], 0))
        ).encode(),
        json.dumps(
            {"metadata": {"institution": {"name": "N" * 250, "institution_id": "\x00"}}}
        ).encode(),
    ]
    for body in json_bodies:
        yield {"method": "post", "values": values, "body": body, "content_type": "application/json"}
    if any(name not in route.int_params for name in route.params):
        for value, method in (("\x00", "get"), (LONG, "post"), (HUGE, "get")):
            yield {"method": method, "values": _fill(route, world, value)}
    yield {
        "method": "post",
        "values": values,
        "body": b"{}",
        "content_type": "application/json",
        "headers": {"Authorization": "Bearer \x00" + LONG, "Plaid-Verification": "e30.e30.e30"},
    }


@pytest.mark.parametrize("persona", PERSONAS)
def test_every_route_answers_hostile_input_without_a_5xx(world: World, persona: str) -> None:
    for route in ROUTES:
        for request in hostile_requests(route, world):
            send(world, persona, route, **request)
    # Not vacuous: the requests reached views, which answered and refused.
    assert {400, 200 if persona != "anonymous" else 302} <= world.statuses
    assert "main_currency" in world.fields["settings/"]


# --- Hypothesis: combinations --------------------------------------------------------------

texts = st.one_of(
    st.sampled_from(HOSTILE_TEXT),
    st.text(max_size=40),
    st.text(alphabet=st.characters(codec="utf-8"), min_size=200, max_size=2000),
)
raw_values = st.one_of(texts, st.sampled_from(INVALID_UTF8))
json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**40), max_value=10**40),
    st.floats(allow_nan=False, allow_infinity=False),
    texts,
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(
            st.one_of(st.sampled_from(JSON_KEYS), st.text(max_size=10)), inner, max_size=4
        ),
    ),
    max_leaves=20,
)
json_bodies = st.one_of(
    st.dictionaries(st.sampled_from(JSON_KEYS), json_values, max_size=6).map(
        lambda d: json.dumps(d).encode()
    ),
    json_values.map(lambda v: json.dumps(v).encode()),
    st.integers(min_value=1, max_value=3000).map(lambda n: b"[" * n + b"]" * n),
    st.binary(max_size=200),
)


@pytest.mark.parametrize("persona", PERSONAS)
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)
@given(data=st.data())
def test_random_requests_get_no_5xx(world: World, persona: str, data: st.DataObject) -> None:
    route = data.draw(st.sampled_from(ROUTES), label="route")
    names = _names(world, route)
    param = data.draw(
        st.one_of(st.sampled_from([str(i) for i in world.ids]), texts), label="url parameter"
    )
    values = _fill(route, world, param)
    for name in route.int_params:
        values[name] = data.draw(
            st.one_of(st.sampled_from(world.ids), st.integers(min_value=0, max_value=10**30)),
            label=name,
        )
    pairs = data.draw(
        st.lists(st.tuples(st.sampled_from(names), raw_values), max_size=6), label="query"
    )
    method = data.draw(st.sampled_from(["get", "post", "put", "delete"]), label="method")
    kind = data.draw(st.sampled_from(["form", "json"]), label="body")
    if kind == "json":
        body, content_type = data.draw(json_bodies, label="json"), "application/json"
    else:
        form = data.draw(
            st.lists(st.tuples(st.sampled_from(names), raw_values), max_size=8), label="form"
        )
        body, content_type = _encode(form).encode(), "application/x-www-form-urlencoded"
    headers = data.draw(
        st.dictionaries(
            st.sampled_from(["Authorization", "Plaid-Verification", "Accept", "Content-Length"]),
            st.one_of(st.sampled_from(HOSTILE_TEXT), st.text(max_size=30)).map(
                lambda s: s.encode("utf-8", "replace").decode("latin-1")
            ),
            max_size=2,
        ),
        label="headers",
    )
    send(
        world,
        persona,
        route,
        method=method,
        values=values,
        query=pairs if method == "get" else pairs[:2],
        body=b"" if method == "get" else body,
        content_type=content_type,
        headers={k: v for k, v in headers.items() if k != "Content-Length"},
    )
