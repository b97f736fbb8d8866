"""The API in a household: a token sees what its user sees (`view=household` adds what is
shared with them, each account once with its `owner`), shared objects are read-only (403
on writes), anything not shared a 404; queries stay flat with shares."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from balances.models import BalanceSnapshot, ManualAccount
from balances.services import households as sharing
from balances.services import net_worth
from tests.balances.selectors.test_households import HOUSEHOLD_SIZES, make_household
from tests.factories import AccountFactory, ManualAccountFactory, PlaidItemFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def family():
    alice, bob = UserFactory(username="alice"), UserFactory(username="bob")
    item = PlaidItemFactory(owner=alice)
    shared = AccountFactory(item=item, name="Joint Checking", current=Decimal(100))
    private = AccountFactory(item=item, name="Private Savings", current=Decimal(20))
    BalanceSnapshot.objects.create(
        account=shared, taken_at=timezone.now() - timedelta(days=1), current=Decimal(100)
    )
    own = AccountFactory(item=PlaidItemFactory(owner=bob), name="Bob Checking", current=3)
    house = ManualAccountFactory(owner=alice, name="Family House")
    share = sharing.share_invite(
        owner=alice,
        username="bob",
        all_accounts=False,
        account_ids=[shared.pk],
        manual_ids=[house.pk],
    )
    sharing.share_accept(share=share)
    return alice, bob, shared, private, own, house, share


def test_lists_and_totals_follow_the_view(make_client: Any, family: Any) -> None:
    _alice, bob, _shared, _private, _own, _house, _share = family
    api = make_client(bob)
    mine = api.get("/api/v1/accounts/").json()["results"]
    assert [(a["name"], a["owner"]) for a in mine] == [("Bob Checking", "bob")]
    household = api.get("/api/v1/accounts/", {"view": "household"}).json()["results"]
    assert {(a["name"], a["owner"]) for a in household} == {
        ("Bob Checking", "bob"),
        ("Joint Checking", "alice"),
        ("Family House", "alice"),
    }
    (usd,) = api.get("/api/v1/net-worth/", {"view": "household"}).json()["totals"]
    assert usd["net_worth"] == "1103.00"
    (usd_mine,) = api.get("/api/v1/net-worth/").json()["totals"]
    assert usd_mine["net_worth"] == "3.00"


def test_a_joint_account_both_linked_is_listed_and_counted_once(
    make_client: Any, family: Any
) -> None:
    """Bob links the joint account Alice shares (Alice linked it first): the household
    list, net worth and history hold it once, as Alice's."""
    _alice, bob, shared, _private, _own, _house, _share = family
    bobs = AccountFactory(
        item=PlaidItemFactory(owner=bob),
        name=shared.name,
        mask=shared.mask,
        current=Decimal(104),
    )
    BalanceSnapshot.objects.create(
        account=bobs, taken_at=timezone.now() - timedelta(days=1), current=Decimal(104)
    )
    net_worth.net_worth_rebuild(user_id=bob.pk)
    api = make_client(bob)
    household = api.get("/api/v1/accounts/", {"view": "household"}).json()["results"]
    assert sorted((a["name"], a["owner"]) for a in household) == [
        ("Bob Checking", "bob"),
        ("Family House", "alice"),
        ("Joint Checking", "alice"),
    ]
    (usd,) = api.get("/api/v1/net-worth/", {"view": "household"}).json()["totals"]
    assert usd["net_worth"] == "1103.00"
    history = api.get("/api/v1/net-worth/history/", {"view": "household", "range": "30d"})
    (series,) = history.json()["series"]
    # Of the snapshots: Bob's daily totals hold his copy (104), Alice's 100 counts instead
    # (Bob Checking has none: history starts at a first snapshot).
    assert series["points"][-1]["net_worth"] == "100.00"
    mine = api.get("/api/v1/accounts/").json()["results"]
    assert sorted(a["name"] for a in mine) == ["Bob Checking", "Joint Checking"]
    series = api.get("/api/v1/net-worth/history/", {"view": "household"}).json()["series"]
    assert series[0]["currency"] == "USD"
    manual = api.get("/api/v1/manual-accounts/", {"view": "household"}).json()["results"]
    assert [(m["name"], m["owner"]) for m in manual] == [("Family House", "alice")]
    assert api.get("/api/v1/manual-accounts/").json()["results"] == []


@pytest.mark.parametrize("value", ["", "ours", "HOUSEHOLD", "household\x00"])
def test_an_unknown_view_is_400(make_client: Any, family: Any, value: str) -> None:
    api = make_client(family[1])
    for url in ("/api/v1/accounts/", "/api/v1/net-worth/", "/api/v1/manual-accounts/"):
        response = api.get(url, {"view": value})
        assert response.status_code == 400, url
        assert "view must be mine or household" in response.json()["detail"]


def test_a_shared_account_opens_read_only_the_rest_is_404(make_client: Any, family: Any) -> None:
    alice, bob, shared, private, _own, house, share = family
    api = make_client(bob, scope="write")
    detail = api.get(f"/api/v1/accounts/{shared.pk}/")
    assert detail.status_code == 200 and detail.json()["owner"] == "alice"
    assert api.get(f"/api/v1/accounts/{shared.pk}/history/").status_code == 200
    assert api.get(f"/api/v1/accounts/{private.pk}/").status_code == 404
    assert api.get(f"/api/v1/accounts/{private.pk}/history/").status_code == 404
    assert api.post(f"/api/v1/connections/{shared.item_id}/refresh/").status_code == 404
    assert api.get(f"/api/v1/manual-accounts/{house.pk}/").json()["owner"] == "alice"
    assert api.patch(f"/api/v1/manual-accounts/{house.pk}/", {"name": "Mine"}).status_code == 403
    assert api.delete(f"/api/v1/manual-accounts/{house.pk}/").status_code == 403
    assert ManualAccount.objects.get(pk=house.pk).name == "Family House"
    # Connections are never shared.
    assert api.get("/api/v1/connections/").json()["count"] == 1
    # Ended: 404 at once, on every one of them.
    sharing.share_end(share=share)
    assert api.get(f"/api/v1/accounts/{shared.pk}/").status_code == 404
    assert api.get(f"/api/v1/manual-accounts/{house.pk}/").status_code == 404
    assert api.patch(f"/api/v1/manual-accounts/{house.pk}/", {"name": "Mine"}).status_code == 404
    names = {
        a["name"] for a in api.get("/api/v1/accounts/", {"view": "household"}).json()["results"]
    }
    assert names == {"Bob Checking"}
    # The owner still writes their own.
    assert (
        make_client(alice, scope="write")
        .patch(f"/api/v1/manual-accounts/{house.pk}/", {"name": "Home"})
        .status_code
        == 200
    )


PATHS = (
    "/api/v1/accounts/?view=household",
    "/api/v1/net-worth/?view=household",
    "/api/v1/net-worth/history/?view=household&range=1y",
    "/api/v1/manual-accounts/?view=household",
)


def test_household_queries_are_flat_for_5_100_and_1000_accounts_of_three_owners(
    make_client: Any, django_assert_max_num_queries: Any
) -> None:
    counts: dict[str, list[int]] = {path: [] for path in PATHS}
    for total in HOUSEHOLD_SIZES:
        viewer, _parts, usd = make_household(total)
        client = make_client(viewer)
        client.get("/api/v1/net-worth/")  # the token's first use writes last_used_at
        for path in PATHS:
            with (
                django_assert_max_num_queries(10),
                CaptureQueriesContext(connection) as queries,
            ):
                response = client.get(path)
            assert response.status_code == 200, path
            counts[path].append(len(queries))
            if path.startswith("/api/v1/net-worth/?"):
                totals = response.json()["totals"]
                assert next(t for t in totals if t["currency"] == "USD")["net_worth"] == (
                    f"{usd}.00"
                )
    for path, per_size in counts.items():
        if path.startswith("/api/v1/accounts/"):
            assert max(per_size) - min(per_size) <= 1, (path, per_size)  # see test_queries
            continue
        assert len(set(per_size)) == 1, (path, per_size)
