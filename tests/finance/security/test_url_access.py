"""For every URL the project serves: login required, per-user isolation, CSRF.

The URL list comes from the resolver, so views added by any later change are covered
automatically; only PUBLIC_ROUTES / CSRF_EXEMPT_ROUTES (tests/finance/security/routes.py) are
exceptions, and each needs a reason there.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from tests.finance.security.conftest import A_MARKERS, Tenant, client_for
from tests.finance.security.routes import (
    CSRF_EXEMPT_ROUTES,
    LOGIN_PATHS,
    PUBLIC_ROUTES,
    Route,
    all_routes,
    default_values,
    fills,
)
from tests.helpers import body

pytestmark = pytest.mark.django_db

ROUTES = all_routes()
PRIVATE = [r for r in ROUTES if not r.is_public]
APP_OBJECT_ROUTES = [r for r in ROUTES if not r.is_admin and not r.is_public and r.int_params]
APP_PLAIN_ROUTES = [r for r in ROUTES if not r.is_admin and not r.is_public and not r.params]


def _ids(routes: list[Route]) -> list[str]:
    return [r.route for r in routes]


def _is_login_redirect(response: Any) -> bool:
    return response.status_code == 302 and response["Location"].startswith(LOGIN_PATHS)


def test_the_route_walk_finds_the_apps_urls() -> None:
    routes = {r.route for r in ROUTES}
    assert {"", "refresh/", "accounts/login/", "admin/"} <= routes
    assert any(r.name == "admin:balances_plaiditem_change" for r in ROUTES)
    # Public routes that no longer exist would widen the allow-list silently.
    stale = PUBLIC_ROUTES - routes
    assert stale == set()


def _is_api_401(response: Any) -> bool:
    return (
        response.status_code == 401
        and response["Content-Type"] == "application/json"
        and set(response.json()) == {"detail"}
        and response["WWW-Authenticate"].startswith("Bearer")
    )


TOKEN_API = [r for r in PRIVATE if r.is_token_api]


@pytest.mark.parametrize("route", TOKEN_API, ids=_ids(TOKEN_API))
def test_anonymous_api_request_is_401_with_a_json_error(route: Route) -> None:
    """The read API's answer to no credentials: a script has no login page to follow."""
    client = Client(raise_request_exception=False)
    url = route.url(default_values(route))
    for method in ("get", "post"):
        response = getattr(client, method)(url)
        assert _is_api_401(response), f"{method.upper()} {url} -> {response.status_code}"


LOGIN_PAGES = [r for r in PRIVATE if not r.is_token_api]


@pytest.mark.parametrize("route", LOGIN_PAGES, ids=_ids(LOGIN_PAGES))
def test_anonymous_visitor_is_sent_to_login(route: Route) -> None:
    client = Client(raise_request_exception=False)
    url = route.url(default_values(route))
    responses = {method: getattr(client, method)(url) for method in ("get", "post")}
    # A method the view does not take may answer 405, but never with data.
    for method, response in responses.items():
        assert _is_login_redirect(response) or response.status_code == 405, (
            f"{method.upper()} {url} -> {response.status_code} for an anonymous visitor"
        )
    assert any(_is_login_redirect(r) for r in responses.values()), url


@pytest.mark.parametrize("route", APP_OBJECT_ROUTES, ids=_ids(APP_OBJECT_ROUTES))
def test_other_users_objects_are_404(
    route: Route, tenant_a: Tenant, tenant_b: Tenant, emulator: Any
) -> None:
    """B gets 404 for each of A's objects, by GET and POST; A does reach them."""
    bob = client_for(tenant_b.user)
    for values in fills(route, tenant_a.ids()):
        url = route.url(values)
        for method in ("get", "post"):
            response = getattr(bob, method)(url)
            assert response.status_code in (404, 405), (
                f"{method.upper()} {url} (A's object) as B -> {response.status_code}"
            )
            if response.status_code == 405:
                continue
            body = response.content.decode(errors="replace")
            assert not any(m in body for m in A_MARKERS), url
    # Not vacuous: some of A's ids must reach a real object of A's through this URL. A's
    # own requests go last, as they may change A's data (e.g. unlink).
    alice = client_for(tenant_a.user)
    reached = []
    for values in fills(route, tenant_a.ids()):
        url = route.url(values)
        for method in ("get", "post"):
            status = getattr(alice, method)(url).status_code
            if status not in (404, 405):
                reached.append((method, url, status))
                break
    assert reached, f"{route.route}: none of A's ids reach an object of A's; fill it by hand"


@pytest.mark.parametrize("route", APP_PLAIN_ROUTES, ids=_ids(APP_PLAIN_ROUTES))
def test_pages_and_exports_show_only_the_users_own_data(
    route: Route, tenant_a: Tenant, tenant_b: Tenant, emulator: Any
) -> None:
    bob = client_for(tenant_b.user)
    url = route.url({})
    response = bob.get(url)
    if response.status_code == 405:
        response = bob.post(url)
    body = b"".join(response.streaming_content) if response.streaming else response.content
    text = body.decode(errors="replace")
    leaked = [m for m in A_MARKERS if m in text]
    assert not leaked, f"GET {url} as B shows A's data: {leaked}"


def test_the_dashboard_shows_the_users_own_data(tenant_a: Tenant, tenant_b: Tenant) -> None:
    """The marker check above is not vacuous: A does see A's markers on the dashboard."""
    page = body(client_for(tenant_a.user).get("/"))
    assert "Aardvark Checking" in page and "Beaver Checking" not in page
    assert "Alderbank A-only house" in page and "Birchbank B-only house" not in page


@pytest.mark.parametrize(
    "route", [r for r in ROUTES if r.is_admin], ids=_ids([r for r in ROUTES if r.is_admin])
)
def test_admin_is_closed_to_non_staff(route: Route, tenant_a: Tenant, tenant_b: Tenant) -> None:
    bob = client_for(tenant_b.user)
    url = route.url(default_values(route, int_value=tenant_a.item.pk))
    response = bob.get(url)
    if route.is_public:
        assert response.status_code in (200, 302)
        return
    assert _is_login_redirect(response) or response.status_code in (403, 404, 405), (
        f"GET {url} as a non-staff user -> {response.status_code}"
    )


# The exempt webhook is verified by its signature instead (tests of that view).
CSRF_PROTECTED = [r for r in ROUTES if r.route not in CSRF_EXEMPT_ROUTES]


@pytest.mark.parametrize("route", CSRF_PROTECTED, ids=_ids(CSRF_PROTECTED))
def test_post_without_csrf_token_is_refused(route: Route, tenant_a: Tenant) -> None:
    client = client_for(tenant_a.user, enforce_csrf_checks=True)
    values = default_values(route, int_value=tenant_a.item.pk)
    response = client.post(route.url(values), {"anything": "1"})
    assert response.status_code == 403, f"POST {route.url(values)} -> {response.status_code}"


def test_csrf_exempt_views_are_only_the_allowed_ones() -> None:
    # REST framework marks its views csrf_exempt for Django and checks CSRF itself on
    # session-authenticated writes (a token needs none): test_post_without_csrf_token_is_refused
    # above covers each of them like any other view.
    exempt = {
        r.route
        for r in ROUTES
        if getattr(r.callback, "csrf_exempt", False) and not r.is_rest_framework_view
    }
    assert exempt <= CSRF_EXEMPT_ROUTES
    assert any(r.is_rest_framework_view for r in ROUTES)  # not vacuous


# --- Households: shared view-only, everything else still a 404 ---------------------------

# What a viewer may open of an account shared with them: its page and its API reads.
SHARED_READS = frozenset(
    {"accounts/<int:pk>/", "api/v1/accounts/<int:pk>/", "api/v1/accounts/<int:pk>/history/"}
)
SHARED_MANUAL_READS = frozenset({"api/v1/manual-accounts/<int:pk>/"})
# Writes to a manual account shared with the viewer: visible, so 403 (not theirs).
SHARED_MANUAL_WRITES = frozenset(
    {"manual/<int:pk>/edit/", "manual/<int:pk>/value/", "manual/<int:pk>/delete/"}
)


def _share_one_account_and_the_house(owner: Tenant, viewer: Tenant) -> Any:
    from balances.services import households

    share = households.share_invite(
        owner=owner.user,
        username=viewer.user.username,
        all_accounts=False,
        account_ids=[owner.accounts[0].pk],
        manual_ids=[owner.manual.pk],
    )
    return households.share_accept(share=share)


def _expected(route: Route, pk: int, owner: Tenant, shared: bool, method: str) -> set[int]:
    reads = (shared and pk == owner.accounts[0].pk and route.route in SHARED_READS) or (
        shared and pk == owner.manual.pk and route.route in SHARED_MANUAL_READS
    )
    if reads:
        return {200} if method == "get" else {405}  # read-only: POST is no method of theirs
    if shared and pk == owner.manual.pk and route.route in SHARED_MANUAL_WRITES:
        return {403}
    return {404, 405}


@pytest.mark.parametrize("route", APP_OBJECT_ROUTES, ids=_ids(APP_OBJECT_ROUTES))
def test_only_what_is_shared_opens_read_only_and_ending_the_share_hides_it_at_once(
    route: Route, tenant_a: Tenant, tenant_b: Tenant, emulator: Any
) -> None:
    """A shares one account and the house with B: B opens exactly those (the account's
    page and API reads; the house by the API, its edits 403), every other object of A's
    is a 404 on every URL; once the share ends, everything is a 404 again, on the very
    next request."""
    from balances.services import households

    share = _share_one_account_and_the_house(tenant_a, tenant_b)
    bob = client_for(tenant_b.user)
    for shared in (True, False):
        for values in fills(route, tenant_a.ids()):
            url = route.url(values)
            pk = next(iter(values[n] for n in route.int_params))
            for method in ("get", "post"):
                response = getattr(bob, method)(url)
                expected = _expected(route, pk, tenant_a, shared, method)
                assert response.status_code in expected, (
                    f"{method.upper()} {url} as B ({'shared' if shared else 'ended'}) -> "
                    f"{response.status_code}, expected {sorted(expected)}"
                )
                body = response.content.decode(errors="replace")
                # Never the unshared account, never a token or the Item's secrets.
                assert "Avocado Savings" not in body, url
                assert "access-sandbox" not in body, url
        if shared:
            households.share_end(share=share)


def test_api_writes_to_a_shared_manual_account_are_403_and_change_nothing(
    tenant_a: Tenant, tenant_b: Tenant
) -> None:
    from balances.models import ApiToken, ManualAccount
    from balances.services import api_tokens

    _share_one_account_and_the_house(tenant_a, tenant_b)
    _token, text = api_tokens.api_token_create(
        user=tenant_b.user, name="script", scope=ApiToken.Scope.WRITE
    )
    api = Client(raise_request_exception=False, HTTP_AUTHORIZATION=f"Bearer {text}")
    url = f"/api/v1/manual-accounts/{tenant_a.manual.pk}/"
    assert api.get(url).json()["owner"] == "alice"
    patch = api.patch(url, {"value": "1"}, content_type="application/json")
    assert patch.status_code == 403 and "not to change" in patch.json()["detail"]
    assert api.delete(url).status_code == 403
    assert ManualAccount.objects.get(pk=tenant_a.manual.pk).value == tenant_a.manual.value
    # Not visible at all: 404, the same as a missing one.
    other = f"/api/v1/manual-accounts/{tenant_b.manual.pk + 999}/"
    assert api.patch(other, {"value": "1"}, content_type="application/json").status_code == 404
    # The Item behind the shared account is not shared: refreshing it is a 404.
    refresh = f"/api/v1/connections/{tenant_a.item.pk}/refresh/"
    assert api.post(refresh).status_code == 404


@pytest.mark.parametrize("route", APP_PLAIN_ROUTES, ids=_ids(APP_PLAIN_ROUTES))
def test_the_household_view_shows_nothing_unshared(
    route: Route, tenant_a: Tenant, tenant_b: Tenant, emulator: Any
) -> None:
    """With `view=household`, B's pages, exports and API lists show nothing of A's while A
    shares nothing with B (A shares everything with someone else); after A shares one
    account, still nothing of A's other account."""
    bob = client_for(tenant_b.user)
    url = route.url({})

    def text() -> str:
        response = bob.get(url, {"view": "household"})
        if response.status_code == 405:
            response = bob.post(url, {"view": "household"})
        body = b"".join(response.streaming_content) if response.streaming else response.content
        return body.decode(errors="replace")

    leaked = [m for m in A_MARKERS if m in text()]
    assert not leaked, f"GET {url}?view=household as B shows A's data: {leaked}"
    _share_one_account_and_the_house(tenant_a, tenant_b)
    assert "Avocado Savings" not in text(), url


def test_the_household_dashboard_shows_what_is_shared_marked_with_its_owner(
    tenant_a: Tenant, tenant_b: Tenant
) -> None:
    """The checks above are not vacuous: B's household view does show the shared account."""
    _share_one_account_and_the_house(tenant_a, tenant_b)
    bob = client_for(tenant_b.user)
    page = body(bob.get("/", {"view": "household"}))
    assert "Aardvark Checking" in page and "shared by alice" in page
    assert "Alderbank A-only house" in page and "Avocado Savings" not in page
    mine = body(bob.get("/"))
    assert "Aardvark Checking" not in mine and "Beaver Checking" in mine
