"""`balances.api.views`: every endpoint over HTTP with real tokens, its statuses, and
isolation between two users."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.utils import timezone

from balances.models import Account, PlaidItem
from balances.services import net_worth
from balances.shared_state import api as shared_state
from tests.balances.api.conftest import TokenClient
from tests.factories import AccountFactory, BalanceSnapshotFactory, PlaidItemFactory, UserFactory

pytestmark = pytest.mark.django_db


def _detail(response: Any) -> str:
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert set(body) >= {"detail"} and isinstance(body["detail"], str), body
    return body["detail"]


# --- net worth ------------------------------------------------------------------------------


def test_net_worth_is_per_currency_exact_and_unofficial_currencies_come_after(
    api: TokenClient, refreshed_user: Any
) -> None:
    item = PlaidItem.objects.get(owner=refreshed_user)
    AccountFactory(
        item=item,
        iso_currency_code="",
        unofficial_currency_code="BTC",
        type="investment",
        current=Decimal("0.51234567"),
        balances_updated_at=timezone.now(),
    )
    day_old = timezone.now() - timedelta(days=1)
    AccountFactory(
        item=item, iso_currency_code="CAD", current=Decimal("12.5"), balances_updated_at=day_old
    )
    response = api.get("/api/v1/net-worth/")
    assert response.status_code == 200
    assert response["Cache-Control"] == "private, no-store"
    body = response.json()
    assert body["main_currency"] == "USD"
    assert body["totals"] == [
        {
            "currency": "USD",
            "currency_is_official": True,
            "net_worth": "44110.00",
            "assets": "44520.00",
            "liabilities": "410.00",
        },
        {
            "currency": "CAD",
            "currency_is_official": True,
            "net_worth": "12.50",
            "assets": "12.50",
            "liabilities": "0.00",
        },
        {
            "currency": "BTC",
            "currency_is_official": False,
            "net_worth": "0.51234567",
            "assets": "0.51234567",
            "liabilities": "0",
        },
    ]
    # The oldest balance counted: every figure is at least this recent.
    assert body["as_of"] == day_old.isoformat()


def test_net_worth_counts_a_bank_linked_twice_once(
    api: TokenClient, refreshed_user: Any, fake_plaid: Any
) -> None:
    from tests.helpers import link_again

    link_again(fake_plaid, refreshed_user)
    (usd,) = api.get("/api/v1/net-worth/").json()["totals"]
    assert usd["net_worth"] == "44110.00"
    history = api.get("/api/v1/net-worth/history/", {"range": "30d"}).json()
    assert history["series"][0]["points"][-1]["net_worth"] == "44110.00"
    listed = api.get("/api/v1/accounts/").json()
    rows = listed.get("results", listed) if isinstance(listed, dict) else listed
    assert sorted(a["mask"] for a in rows) == ["0000", "1111", "2222", "3333", "4444"]


def test_net_worth_of_a_user_without_accounts_is_empty(make_client: Any) -> None:
    response = make_client(UserFactory()).get("/api/v1/net-worth/")
    assert response.status_code == 200
    assert response.json() == {"as_of": None, "main_currency": "USD", "totals": []}


def test_net_worth_history_is_the_dashboards_daily_series(
    api: TokenClient, refreshed_user: Any
) -> None:
    today = timezone.localdate()
    response = api.get("/api/v1/net-worth/history/", {"range": "30d"})
    assert response.status_code == 200
    body = response.json()
    assert body["range"] == "30d" and body["end"] == today.isoformat()
    assert body["start"] == (today - timedelta(days=29)).isoformat()
    (usd,) = body["series"]
    assert usd["currency"] == "USD" and usd["currency_is_official"] is True
    assert usd["points"][-1] == {
        "date": today.isoformat(),
        "net_worth": "44110.00",
        "assets": "44520.00",
        "liabilities": "410.00",
    }
    every = api.get("/api/v1/net-worth/history/", {"range": "all"}).json()
    assert every["start"] is None and every["series"][0]["points"][0]["date"] == today.isoformat()
    assert api.get("/api/v1/net-worth/history/").json()["range"] == "90d"


@pytest.mark.parametrize("value", ["7d", "", "1Y", "all ", "90d'--"])
def test_a_malformed_range_is_400(api: TokenClient, value: str) -> None:
    for url in ("/api/v1/net-worth/history/", _first_account_url(api) + "history/"):
        response = api.get(url, {"range": value})
        assert response.status_code == 400, url
        assert "range must be one of 30d, 90d, 1y, all" in _detail(response)


def _first_account_url(api: TokenClient) -> str:
    return f"/api/v1/accounts/{api.get('/api/v1/accounts/').json()['results'][0]['id']}/"


# --- accounts -------------------------------------------------------------------------------


def test_accounts_list_every_field_of_each_open_account(
    api: TokenClient, refreshed_user: Any
) -> None:
    response = api.get("/api/v1/accounts/")
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 5 and body["next"] is None and body["previous"] is None
    by_mask = {a["mask"]: a for a in body["results"]}
    card = Account.objects.get(item__owner=refreshed_user, mask="3333")
    assert by_mask["3333"] == {
        "id": card.pk,
        "name": "Plaid Credit Card",
        "official_name": card.official_name,
        "mask": "3333",
        "type": "credit",
        "subtype": "credit card",
        "source": "plaid",
        "institution": card.item.display_name,
        "connection_id": card.item_id,
        "currency": "USD",
        "unofficial_currency": None,
        "available": None,
        "current": "410.00",
        "limit": "2000.00",
        "utilization": "20.5",
        "balances_as_of": card.balances_updated_at.isoformat(),
        "value_as_of": None,
        "closed_at": None,
        "owner": refreshed_user.username,
    }
    cd = by_mask["2222"]
    assert cd["available"] is None and cd["current"] == "1000.00" and cd["utilization"] is None


def test_accounts_filter_by_type_and_connection_and_include_closed(
    api: TokenClient, refreshed_user: Any
) -> None:
    item = PlaidItem.objects.get(owner=refreshed_user)
    other = PlaidItemFactory(owner=refreshed_user, institution_name="Zeta Bank")
    AccountFactory(item=other, type="loan", name="Mortgage", current=Decimal("1000"))
    AccountFactory(item=other, name="Old checking", closed_at=timezone.now())

    def masks(params: dict[str, Any]) -> list[str]:
        response = api.get("/api/v1/accounts/", params)
        assert response.status_code == 200, response.content
        return [a["name"] for a in response.json()["results"]]

    assert masks({"type": "credit"}) == ["Plaid Credit Card"]
    assert masks({"type": ["credit", "loan"]}) == ["Plaid Credit Card", "Mortgage"]
    assert masks({"connection": other.pk}) == ["Mortgage"]
    assert masks({"connection": other.pk, "include_closed": "true"}) == [
        "Mortgage",
        "Old checking",
    ]
    assert len(masks({"connection": item.pk})) == 5
    # Another user's connection is no filter of yours: nothing, as for a missing one.
    assert masks({"connection": PlaidItemFactory().pk}) == []


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"type": "chequing"}, "type must be one of"),
        ({"connection": "abc"}, "connection must be a connection id"),
        ({"connection": "-1"}, "connection must be a connection id"),
        ({"connection": "9" * 30}, "connection must be a connection id"),
        ({"include_closed": "maybe"}, "include_closed must be true or false"),
    ],
)
def test_accounts_bad_filters_are_400(api: TokenClient, params: dict[str, str], message: str):
    response = api.get("/api/v1/accounts/", params)
    assert response.status_code == 400
    assert message in _detail(response)


def test_accounts_are_paged(api: TokenClient) -> None:
    first = api.get("/api/v1/accounts/", {"page_size": 2}).json()
    assert first["count"] == 5 and len(first["results"]) == 2 and first["next"]
    last = api.get("/api/v1/accounts/", {"page_size": 2, "page": 3}).json()
    assert len(last["results"]) == 1 and last["next"] is None
    ids = [
        a["id"]
        for p in (1, 2, 3)
        for a in api.get("/api/v1/accounts/", {"page_size": 2, "page": p}).json()["results"]
    ]
    assert len(set(ids)) == 5
    for page in ("4", "0", "x"):
        response = api.get("/api/v1/accounts/", {"page_size": 2, "page": page})
        assert response.status_code == 404 and _detail(response)


def test_an_account_and_its_history(api: TokenClient, refreshed_user: Any) -> None:
    account = Account.objects.get(item__owner=refreshed_user, mask="0000")
    response = api.get(f"/api/v1/accounts/{account.pk}/")
    assert response.status_code == 200
    assert response.json()["name"] == "Plaid Checking"
    assert response.json()["current"] == "110.00"

    yesterday = timezone.now() - timedelta(days=1)
    BalanceSnapshotFactory(account=account, taken_at=yesterday, current=Decimal("99.5"))
    history = api.get(f"/api/v1/accounts/{account.pk}/history/", {"range": "30d"}).json()
    assert history["account"] == account.pk and history["range"] == "30d"
    assert history["points"][-2:] == [
        {
            "date": timezone.localdate(yesterday).isoformat(),
            "available": "100.00",
            "current": "99.50",
            "limit": None,
        },
        {
            "date": timezone.localdate().isoformat(),
            "available": "100.00",
            "current": "110.00",
            "limit": None,
        },
    ]


@pytest.mark.parametrize("pk", [0, 999999, 10**20])
def test_a_missing_account_is_404(api: TokenClient, pk: int) -> None:
    for suffix in ("", "history/"):
        response = api.get(f"/api/v1/accounts/{pk}/{suffix}")
        assert response.status_code == 404
        _detail(response)


# --- connections ----------------------------------------------------------------------------


def test_connections_list_state_error_and_account_ids(
    api: TokenClient, refreshed_user: Any
) -> None:
    item = PlaidItem.objects.get(owner=refreshed_user)
    closed = AccountFactory(item=item, closed_at=timezone.now())
    broken = PlaidItemFactory(
        owner=refreshed_user,
        institution_name="Acme",
        status=PlaidItem.Status.LOGIN_REQUIRED,
        error_code="ITEM_LOGIN_REQUIRED",
        expires_at=timezone.now() + timedelta(days=3),
    )
    response = api.get("/api/v1/connections/")
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 2
    acme, chase = body["results"]
    assert acme["id"] == broken.pk and acme["status"] == "login_required"
    assert acme["error_code"] == "ITEM_LOGIN_REQUIRED"
    assert acme["error_message"] == "Your bank needs you to sign in again. Reconnect this bank."
    assert acme["accounts"] == [] and acme["expires_at"] == broken.expires_at.isoformat()
    assert chase["id"] == item.pk and chase["status"] == "healthy"
    assert chase["error_code"] is None and chase["error_message"] is None
    assert chase["last_refreshed_at"] == item.last_refreshed_at.isoformat()
    assert chase["stale"] is False and chase["refresh_pending"] is False
    open_ids = sorted(a.pk for a in item.accounts.exclude(pk=closed.pk))
    assert chase["accounts"] == open_ids and closed.pk not in chase["accounts"]


def test_refresh_queues_then_reports_pending_then_throttled(
    make_client: Any, refreshed_user: Any, queued_refreshes: Any, settings: Any
) -> None:
    writer = make_client(refreshed_user, scope="write")
    item = PlaidItem.objects.get(owner=refreshed_user)
    url = f"/api/v1/connections/{item.pk}/refresh/"
    # Captured on commit: the test's transaction never commits, so publish by hand.
    response = writer.post(url)
    assert response.status_code == 202, response.content
    assert response.json() == {
        "connection": item.pk,
        "status": "queued",
        "detail": "Refreshing: new balances arrive in a few seconds.",
    }
    item.refresh_from_db()
    assert item.is_refresh_pending
    again = writer.post(url)
    assert again.status_code == 202 and again.json()["status"] == "pending"
    # The refresh ends; within BALANCE_REFRESH_NOW_INTERVAL the next one waits.
    PlaidItem.objects.filter(pk=item.pk).update(last_refreshed_at=timezone.now())
    throttled = writer.post(url)
    assert throttled.status_code == 429
    body = throttled.json()
    seconds = int(throttled["Retry-After"])
    assert 0 < seconds <= settings.BALANCE_REFRESH_NOW_INTERVAL
    assert "refreshed moments ago" in body["detail"] and body["retry_at"]


def test_refresh_of_an_item_needing_a_login_is_409(
    make_client: Any, refreshed_user: Any, queued_refreshes: Any
) -> None:
    item = PlaidItemFactory(owner=refreshed_user, status=PlaidItem.Status.LOGIN_REQUIRED)
    response = make_client(refreshed_user, scope="write").post(
        f"/api/v1/connections/{item.pk}/refresh/"
    )
    assert response.status_code == 409
    assert "log in to the bank again" in _detail(response)
    assert queued_refreshes.tasks == []


def test_refresh_when_the_shared_state_is_down_is_503_and_changes_nothing(
    make_client: Any, refreshed_user: Any, queued_refreshes: Any, monkeypatch: Any
) -> None:
    item = PlaidItem.objects.get(owner=refreshed_user)

    def down(item_id: int) -> float:
        raise shared_state.SharedStateUnavailable("redis is down")

    monkeypatch.setattr(shared_state, "refresh_now_wait", down)
    response = make_client(refreshed_user, scope="write").post(
        f"/api/v1/connections/{item.pk}/refresh/"
    )
    assert response.status_code == 503 and "try again" in _detail(response)
    item.refresh_from_db()
    assert item.refresh_requested_at is None


def test_refresh_takes_only_post(make_client: Any, refreshed_user: Any) -> None:
    item = PlaidItem.objects.get(owner=refreshed_user)
    response = make_client(refreshed_user, scope="write").get(
        f"/api/v1/connections/{item.pk}/refresh/"
    )
    assert response.status_code == 405 and _detail(response)


def test_read_endpoints_take_no_post(make_client: Any, refreshed_user: Any) -> None:
    writer = make_client(refreshed_user, scope="write")
    for url in ("/api/v1/net-worth/", "/api/v1/accounts/", "/api/v1/connections/"):
        response = writer.post(url)
        assert response.status_code == 405, url
        _detail(response)


# --- isolation ------------------------------------------------------------------------------


def test_two_users_see_only_their_own_data_and_each_others_objects_are_404(
    make_client: Any, fake_plaid: Any, queued_refreshes: Any
) -> None:
    from balances.services import store

    clients = {}
    objects = {}
    for name in ("alice", "bob"):
        user = UserFactory(username=name)
        item = PlaidItemFactory(owner=user, institution_name=f"{name} bank")
        fake_plaid.add_item(item.access_token)
        store.item_refresh_balances(item=item)
        account = AccountFactory(item=item, name=f"{name}-only account", current=Decimal(7))
        net_worth.net_worth_rebuild(user_id=user.pk)
        clients[name] = make_client(user, scope="write")
        objects[name] = (item, account)
    for me, other in (("alice", "bob"), ("bob", "alice")):
        client = clients[me]
        their_item, their_account = objects[other]
        for url in ("/api/v1/accounts/", "/api/v1/connections/", "/api/v1/net-worth/"):
            text = client.get(url).content.decode()
            assert f"{other} bank" not in text and f"{other}-only" not in text, url
            assert client.get(url).status_code == 200
        names = [a["name"] for a in client.get("/api/v1/accounts/").json()["results"]]
        assert f"{me}-only account" in names and len(names) == 6
        usd = client.get("/api/v1/net-worth/").json()["totals"][0]
        assert usd["net_worth"] == "44117.00"  # the example's accounts and one of 7
        mine, theirs = objects[me][1], their_account
        missing = max(mine.pk, theirs.pk) + 1000
        for pk in (theirs.pk, missing):
            for suffix in ("", "history/"):
                response = client.get(f"/api/v1/accounts/{pk}/{suffix}")
                assert response.status_code == 404
                assert response.json() == {"detail": "No such account."}
        assert client.get(f"/api/v1/accounts/{mine.pk}/").status_code == 200
        for pk in (their_item.pk, missing):
            response = client.post(f"/api/v1/connections/{pk}/refresh/")
            assert response.status_code == 404
            assert response.json() == {"detail": "No such connection."}
    assert queued_refreshes.tasks == []
