"""`/api/v1/manual-accounts/` over HTTP with real tokens: create, list, change, re-value
and delete accounts entered by hand; their place in `/accounts/` and `/net-worth/`;
field-by-field 400s; another user's id is a 404. Every response matches the schema."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from balances.models import ManualAccount, ManualValue, NetWorthDay
from balances.services import net_worth
from tests.balances.api.conftest import TokenClient
from tests.balances.api.test_schema import _validate
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

LIST = "/api/v1/manual-accounts/"
HOUSE = {
    "name": "House",
    "kind": "asset",
    "category": "property",
    "currency": "USD",
    "value": "350000",
}
CAR_LOAN = {
    "name": "Car loan",
    "kind": "liability",
    "category": "loan",
    "currency": "USD",
    "value": "12000.00",
    "note": "5 years at 4%",
}


@pytest.fixture
def writer(refreshed_user: Any, make_client: Any) -> TokenClient:
    """A read-and-write token of the user with the sample bank ($44,110.00)."""
    return make_client(refreshed_user, scope="write")


@pytest.fixture
def schema(writer: TokenClient) -> dict[str, Any]:
    return writer.get("/api/v1/schema/").json()


def usd(client: TokenClient, key: str = "net_worth") -> str:
    body = client.get("/api/v1/net-worth/").json()
    return next(t[key] for t in body["totals"] if t["currency"] == "USD")


def last_point(client: TokenClient) -> str:
    body = client.get("/api/v1/net-worth/history/?range=30d").json()
    (series,) = body["series"]
    return series["points"][-1]["net_worth"]


def test_the_done_when_scenario_through_tokens(writer: TokenClient, schema: Any) -> None:
    assert usd(writer) == "44110.00"
    created = writer.post(LIST, HOUSE)
    assert created.status_code == 201, created.content
    house = created.json()
    _validate(schema, LIST, "post", 201, house)
    assert house["value"] == "350000.00" and house["source"] == "manual"
    assert house["value_as_of"] == timezone.localdate().isoformat()
    loan = writer.post(LIST, CAR_LOAN)
    assert loan.status_code == 201
    assert usd(writer) == "382110.00" and last_point(writer) == "382110.00"
    url = f"{LIST}{house['id']}/"
    revalued = writer.patch(url, {"value": "360000"})
    assert revalued.status_code == 200, revalued.content
    _validate(schema, "/api/v1/manual-accounts/{id}/", "patch", 200, revalued.json())
    assert revalued.json()["value"] == "360000.00"
    assert usd(writer) == "392110.00" and last_point(writer) == "392110.00"
    assert usd(writer, "liabilities") == "12410.00"
    assert ManualValue.objects.filter(account_id=house["id"]).count() == 2
    listed = writer.get(LIST)
    _validate(schema, LIST, "get", 200, listed.json())
    assert [a["name"] for a in listed.json()["results"]] == ["Car loan", "House"]
    one = writer.get(url)
    _validate(schema, "/api/v1/manual-accounts/{id}/", "get", 200, one.json())
    deleted = writer.delete(url)
    assert deleted.status_code == 204
    assert usd(writer) == "32110.00" and last_point(writer) == "32110.00"
    assert writer.get(url).status_code == 404


def test_manual_accounts_are_in_the_accounts_list_with_their_own_ids(
    writer: TokenClient, schema: Any
) -> None:
    house = writer.post(LIST, HOUSE).json()
    loan = writer.post(LIST, CAR_LOAN).json()
    body = writer.get("/api/v1/accounts/").json()
    _validate(schema, "/api/v1/accounts/", "get", 200, body)
    assert body["count"] == 7
    plaid = [a for a in body["results"] if a["source"] == "plaid"]
    manual = {a["id"]: a for a in body["results"] if a["source"] == "manual"}
    assert len(plaid) == 5 and all(isinstance(a["id"], int) for a in plaid)
    assert set(manual) == {f"m{house['id']}", f"m{loan['id']}"}
    listed = manual[f"m{loan['id']}"]
    assert (listed["type"], listed["current"]) == ("loan", "12000.00")
    assert listed["connection_id"] is None
    assert listed["value_as_of"] == timezone.localdate().isoformat()
    # Filters: a manual account's type is its group; a connection has none.
    loans = writer.get("/api/v1/accounts/?type=loan").json()["results"]
    assert [a["id"] for a in loans] == [f"m{loan['id']}"]
    others = writer.get("/api/v1/accounts/?type=other").json()["results"]
    assert [a["id"] for a in others] == [f"m{house['id']}"]
    connection = plaid[0]["connection_id"]
    in_connection = writer.get(f"/api/v1/accounts/?connection={connection}").json()
    assert {a["source"] for a in in_connection["results"]} == {"plaid"}
    # Pages run from the Plaid accounts into the manual ones.
    pages = [writer.get(f"/api/v1/accounts/?page_size=3&page={n}").json() for n in (1, 2, 3)]
    ids = [a["id"] for page in pages for a in page["results"]]
    assert len(ids) == 7 and len(set(map(str, ids))) == 7


def test_a_past_value_through_the_api_changes_history_from_that_day(
    writer: TokenClient, refreshed_user: Any
) -> None:
    today = timezone.localdate()
    body = {**HOUSE, "as_of": (today - timedelta(days=10)).isoformat(), "value": "300000"}
    house = writer.post(LIST, body).json()
    patched = writer.patch(
        f"{LIST}{house['id']}/",
        {"value": "320000", "as_of": (today - timedelta(days=4)).isoformat()},
    )
    assert patched.status_code == 200
    (series,) = writer.get("/api/v1/net-worth/history/?range=30d").json()["series"]
    by_day = {p["date"]: p["net_worth"] for p in series["points"]}
    assert by_day[(today - timedelta(days=10)).isoformat()] == "300000.00"
    assert by_day[(today - timedelta(days=5)).isoformat()] == "300000.00"
    assert by_day[(today - timedelta(days=4)).isoformat()] == "320000.00"
    assert by_day[today.isoformat()] == "364110.00"  # with the bank, refreshed today
    kept = by_day
    net_worth.net_worth_rebuild(user_id=refreshed_user.pk)
    (series,) = writer.get("/api/v1/net-worth/history/?range=30d").json()["series"]
    assert {p["date"]: p["net_worth"] for p in series["points"]} == kept


def test_values_are_exact_decimals_never_floats(writer: TokenClient) -> None:
    raw = '{"name": "Wallet", "kind": "asset", "category": "crypto", "currency": "btc", ' + (
        '"value": 0.12345678901}'
    )
    response = writer.client.post(LIST, raw, content_type="application/json", **writer._headers())
    assert response.status_code == 400  # 11 decimals: more than a value keeps
    raw = raw.replace("0.12345678901", "0.1234567891")
    response = writer.client.post(LIST, raw, content_type="application/json", **writer._headers())
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["value"], body["currency"], body["unofficial_currency"]) == (
        "0.1234567891",
        None,
        "BTC",
    )


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"value": "abc"}, "value"),
        ({"value": "-1"}, "value"),
        ({"value": None}, "value"),
        ({"currency": "ZZZ"}, "currency"),
        ({"category": "boat"}, "category"),
        ({"kind": "maybe"}, "kind"),
        ({"name": "  "}, "name"),
        ({"as_of": "2999-01-01"}, "as_of"),
        ({"as_of": "yesterday"}, "as_of"),
    ],
)
def test_bad_input_is_a_400_field_by_field_and_saves_nothing(
    writer: TokenClient, schema: Any, change: dict[str, Any], field: str
) -> None:
    response = writer.post(LIST, {**HOUSE, **change})
    assert response.status_code == 400
    body = response.json()
    _validate(schema, LIST, "post", 400, body)
    assert field in body["errors"] and body["errors"][field], body
    assert not ManualAccount.objects.exists()


def test_a_missing_field_and_a_body_that_is_not_an_object_are_400(writer: TokenClient) -> None:
    response = writer.post(LIST, {"name": "House"})
    assert response.status_code == 400
    assert {"kind", "category", "currency", "value"} <= set(response.json()["errors"])
    for raw in ("[1, 2]", '"text"', "{not json", "NaN"):
        response = writer.client.post(
            LIST, raw, content_type="application/json", **writer._headers()
        )
        assert response.status_code == 400, raw
    assert not ManualAccount.objects.exists()


def test_a_bad_patch_changes_nothing(writer: TokenClient) -> None:
    house = writer.post(LIST, HOUSE).json()
    url = f"{LIST}{house['id']}/"
    rows = list(NetWorthDay.objects.values_list("day", "assets"))
    response = writer.patch(url, {"name": "Home", "value": "lots"})
    assert response.status_code == 400 and "value" in response.json()["errors"]
    response = writer.patch(url, {"as_of": timezone.localdate().isoformat()})
    assert response.status_code == 400 and "as_of" in response.json()["errors"]
    account = ManualAccount.objects.get()
    assert account.name == "House" and account.values.count() == 1
    assert list(NetWorthDay.objects.values_list("day", "assets")) == rows


def test_a_patch_edits_and_revalues_at_once(writer: TokenClient) -> None:
    house = writer.post(LIST, HOUSE).json()
    response = writer.patch(
        f"{LIST}{house['id']}/", {"name": "Flat", "currency": "EUR", "value": "200000"}
    )
    assert response.status_code == 200
    body = response.json()
    assert (body["name"], body["currency"], body["value"]) == ("Flat", "EUR", "200000.00")
    totals = writer.get("/api/v1/net-worth/").json()["totals"]
    assert [(t["currency"], t["net_worth"]) for t in totals] == [
        ("USD", "44110.00"),
        ("EUR", "200000.00"),
    ]


def test_a_read_token_cannot_write(api: TokenClient, writer: TokenClient) -> None:
    assert api.post(LIST, HOUSE).status_code == 403
    house = writer.post(LIST, HOUSE).json()
    url = f"{LIST}{house['id']}/"
    assert api.patch(url, {"value": "1"}).status_code == 403
    assert api.delete(url).status_code == 403
    assert api.get(url).status_code == 200
    assert ManualAccount.objects.get().value == 350000


def test_another_users_manual_account_is_404(writer: TokenClient, make_client: Any) -> None:
    house = writer.post(LIST, HOUSE).json()
    url = f"{LIST}{house['id']}/"
    other = make_client(UserFactory(), scope="write")
    assert other.get(url).status_code == 404
    assert other.patch(url, {"value": "1"}).status_code == 404
    assert other.delete(url).status_code == 404
    assert other.get(LIST).json()["count"] == 0
    assert all(a["source"] == "plaid" for a in other.get("/api/v1/accounts/").json()["results"])
    assert ManualAccount.objects.get().value == 350000


def test_form_bodies_work_too(writer: TokenClient) -> None:
    response = writer.client.post(LIST, HOUSE, **writer._headers())
    assert response.status_code == 201, response.content
    assert json.loads(response.content)["value"] == "350000.00"
