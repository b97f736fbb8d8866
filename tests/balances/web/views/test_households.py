"""Settings → Household, the dashboard's Mine / Household views, a shared account's page
(read-only), the exports and the dashboard's JSON in the household view."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from decimal import Decimal

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from balances.models import BalanceSnapshot, HouseholdShare, ManualAccount
from balances.services import households as sharing
from tests.factories import AccountFactory, ManualAccountFactory, PlaidItemFactory, UserFactory
from tests.helpers import body

pytestmark = pytest.mark.django_db
State = HouseholdShare.State


def _client(user) -> Client:
    client = Client(raise_request_exception=False)
    client.force_login(user)
    return client


@pytest.fixture
def family():
    alice, bob = UserFactory(username="alice"), UserFactory(username="bob")
    item = PlaidItemFactory(
        owner=alice,
        institution_name="Alder Bank",
        error_code="ITEM_LOGIN_REQUIRED",
        error_message="SECRET-ERROR-DETAIL",
    )
    shared = AccountFactory(item=item, name="Joint Checking", current=Decimal(100))
    private = AccountFactory(item=item, name="Private Savings", current=Decimal(20))
    BalanceSnapshot.objects.create(
        account=shared, taken_at=timezone.now() - timedelta(days=2), current=Decimal(90)
    )
    own = AccountFactory(
        item=PlaidItemFactory(owner=bob, institution_name="Birch Bank"),
        name="Bob Checking",
        current=Decimal(3),
    )
    house = ManualAccountFactory(owner=alice, name="Family House")
    return alice, bob, shared, private, own, house


def _invite_and_accept(alice, bob, shared, house) -> HouseholdShare:
    response = _client(alice).post(
        reverse("household"),
        {
            "username": "bob",
            "scope": "chosen",
            "account": [shared.pk],
            "manual": [house.pk],
        },
    )
    assert response.status_code == 302
    share = HouseholdShare.objects.get(owner=alice, viewer=bob)
    assert share.state == State.INVITED and not share.all_accounts
    page = body(_client(bob).get(reverse("household")))
    assert "alice</strong> invites you" in page
    assert _client(bob).post(reverse("household_accept", args=[share.pk])).status_code == 302
    share.refresh_from_db()
    assert share.state == State.ACCEPTED
    return share


def test_invite_accept_and_see_the_household_view_marked_with_the_owner(family):
    alice, bob, shared, _private, _own, house = family
    bob_client = _client(bob)
    # No share yet: no toggle, and the household view shows only Bob's own.
    page = body(bob_client.get("/"))
    assert "view-toggle" not in page
    assert "Joint Checking" not in body(bob_client.get("/?view=household"))
    _invite_and_accept(alice, bob, shared, house)
    mine = body(bob_client.get("/"))
    assert "view-toggle" in mine and "Joint Checking" not in mine and "$3.00" in mine
    household = body(bob_client.get("/?view=household"))
    assert "Household net worth" in household
    assert "Joint Checking" in household and "shared by alice" in household
    assert "Family House" in household and "Private Savings" not in household
    assert "$1,103.00" in household  # 3 + 100 + 1,000: each account once
    # Nothing of the owner's to act on: no edit links for her house, no error of hers.
    assert reverse("manual_account_edit", args=[house.pk]) not in household
    assert "SECRET-ERROR-DETAIL" not in household and "last update failed" not in household
    # The owner's own dashboard is unchanged by sharing.
    assert "shared by" not in body(_client(alice).get("/"))


def test_a_shared_accounts_page_is_read_only(family):
    alice, bob, shared, private, _own, house = family
    _invite_and_accept(alice, bob, shared, house)
    bob_client = _client(bob)
    page = bob_client.get(reverse("account_detail", args=[shared.pk]))
    assert page.status_code == 200
    text = body(page)
    assert "shared by alice · view-only" in text
    for owner_only in ("SECRET-ERROR-DETAIL", "access-sandbox", "unlink", "item_keep", "Refresh"):
        assert owner_only not in text
    assert bob_client.get(reverse("account_detail", args=[private.pk])).status_code == 404
    # The owner's Item is never the viewer's: unlink, relink, keep, refresh are all 404.
    item = shared.item_id
    for name in ("item_unlink", "item_link_token", "item_keep", "item_update_complete"):
        assert bob_client.post(reverse(name, args=[item])).status_code == 404, name
    # The owner's manual account: visible, so 403 on every write, and unchanged.
    for name in ("manual_account_edit", "manual_account_revalue", "manual_account_delete"):
        assert bob_client.post(reverse(name, args=[house.pk]), {"value": "1"}).status_code == 403
    assert ManualAccount.objects.get(pk=house.pk).value == Decimal(1000)


def test_ending_the_share_hides_everything_on_the_next_request(family):
    alice, bob, shared, _private, _own, house = family
    share = _invite_and_accept(alice, bob, shared, house)
    bob_client = _client(bob)
    assert bob_client.get(reverse("account_detail", args=[shared.pk])).status_code == 200
    # Either side ends it; here the owner.
    assert _client(alice).post(reverse("household_end", args=[share.pk])).status_code == 302
    assert bob_client.get(reverse("account_detail", args=[shared.pk])).status_code == 404
    page = body(bob_client.get("/?view=household"))
    assert "Joint Checking" not in page and "Family House" not in page
    # Ended: no longer a share of theirs to act on.
    assert bob_client.post(reverse("household_end", args=[share.pk])).status_code == 404
    assert HouseholdShare.objects.get(pk=share.pk).state == State.ENDED


def test_the_viewer_can_end_and_decline(family):
    alice, bob, shared, _private, _own, house = family
    share = _invite_and_accept(alice, bob, shared, house)
    assert _client(bob).post(reverse("household_end", args=[share.pk])).status_code == 302
    assert HouseholdShare.objects.get(pk=share.pk).state == State.ENDED
    again = sharing.share_invite(owner=alice, username="bob")
    assert _client(bob).post(reverse("household_decline", args=[again.pk])).status_code == 302
    assert HouseholdShare.objects.get(pk=again.pk).state == State.DECLINED


def test_only_the_parties_reach_a_share(family):
    alice, bob, shared, _private, _own, house = family
    share = _invite_and_accept(alice, bob, shared, house)
    carol = _client(UserFactory(username="carol"))
    for name in ("household_accept", "household_decline", "household_end", "household_accounts"):
        assert carol.post(reverse(name, args=[share.pk])).status_code == 404, name
    # The owner cannot accept for the viewer; the viewer cannot choose the owner's accounts.
    assert _client(alice).post(reverse("household_accept", args=[share.pk])).status_code == 404
    assert _client(bob).get(reverse("household_accounts", args=[share.pk])).status_code == 404
    assert HouseholdShare.objects.get(pk=share.pk).state == State.ACCEPTED


@pytest.mark.parametrize(
    ("form", "message"),
    [
        ({"username": ""}, "Enter the username"),
        ({"username": "nobody"}, "No user of this app is called nobody"),
        ({"username": "alice"}, "invite someone else"),
        ({"username": "bob", "scope": "chosen"}, "Choose at least one account"),
        ({"username": "bob", "scope": "chosen", "account": ["abc"]}, "Unknown account"),
        ({"username": "\x00"}, "not a username"),
    ],
)
def test_a_bad_invitation_is_a_400_that_saves_nothing(family, form, message):
    alice = family[0]
    response = _client(alice).post(reverse("household"), form)
    assert response.status_code == 400
    assert message in body(response)
    assert not HouseholdShare.objects.exists()


def test_choosing_accounts_changes_what_the_viewer_sees(family):
    alice, bob, shared, private, _own, house = family
    share = _invite_and_accept(alice, bob, shared, house)
    owner = _client(alice)
    form = body(owner.get(reverse("household_accounts", args=[share.pk])))
    assert f'value="{shared.pk}"' in form and "checked" in form
    response = owner.post(
        reverse("household_accounts", args=[share.pk]), {"scope": "chosen", "account": [private.pk]}
    )
    assert response.status_code == 302
    page = body(_client(bob).get("/?view=household"))
    assert "Private Savings" in page and "Joint Checking" not in page
    bad = owner.post(
        reverse("household_accounts", args=[share.pk]), {"scope": "chosen", "account": ["999999"]}
    )
    assert bad.status_code == 400
    assert "Private Savings" in body(_client(bob).get("/?view=household"))


def test_exports_and_json_follow_the_view(family):
    alice, bob, shared, _private, _own, house = family
    _invite_and_accept(alice, bob, shared, house)
    bob_client = _client(bob)

    def rows(name: str, view: str | None) -> list[dict[str, str]]:
        params = {"view": view} if view else {}
        response = bob_client.get(reverse(name), params)
        body = b"".join(response.streaming_content).decode()
        return list(csv.DictReader(io.StringIO(body)))

    mine = rows("export_accounts_csv", None)
    assert [r["account"] for r in mine] == ["Bob Checking"] and "owner" not in mine[0]
    household = rows("export_accounts_csv", "household")
    assert {(r["account"], r["owner"]) for r in household} == {
        ("Bob Checking", "bob"),
        ("Joint Checking", "alice"),
        ("Family House", "alice"),
    }
    history = rows("export_history_csv", "household")
    assert {r["account"] for r in history} == {"Joint Checking"}
    assert {r["owner"] for r in history} == {"alice"}
    assert rows("export_history_csv", None) == []
    data = bob_client.get(reverse("dashboard_api"), {"view": "household"}).json()
    (usd,) = data["totals"]
    assert usd["net_worth"] == "1103.00"
    owners = {
        a["name"]: a["owner"] for g in data["groups"] for a in g["accounts"] + g["manual_accounts"]
    }
    assert owners == {"Bob Checking": "bob", "Joint Checking": "alice", "Family House": "alice"}
    (usd_mine,) = bob_client.get(reverse("dashboard_api")).json()["totals"]
    assert usd_mine["net_worth"] == "3.00"


def test_the_group_page_follows_the_view(family):
    alice, bob, shared, _private, _own, house = family
    _invite_and_accept(alice, bob, shared, house)
    url = reverse("account_group", args=["depository"])
    bob_client = _client(bob)
    assert "Joint Checking" not in body(bob_client.get(url))
    page = body(bob_client.get(url, {"view": "household"}))
    assert "Joint Checking" in page and "shared by alice" in page


def test_a_joint_account_both_linked_counts_once_under_the_older_connection(family):
    """Bob links the joint account Alice linked first (same bank, mask, type and name,
    under his own login): the household counts Alice's copy, once, on the dashboard, the
    group page, the exports and the API; Bob's own view still counts his."""
    alice, bob, shared, _private, _own, house = family
    _invite_and_accept(alice, bob, shared, house)
    bobs = AccountFactory(
        item=PlaidItemFactory(owner=bob, institution_name="Alder Bank"),
        name="Joint Checking",
        mask=shared.mask,
        current=Decimal(104),  # read at another moment than Alice's
    )
    assert bobs.item.institution_id == shared.item.institution_id
    bob_client = _client(bob)
    data = bob_client.get(reverse("dashboard_api"), {"view": "household"}).json()
    assert data["totals"][0]["net_worth"] == "1103.00"  # 100 + 3 + 1000, not + 104
    (usd_mine,) = bob_client.get(reverse("dashboard_api")).json()["totals"]
    assert usd_mine["net_worth"] == "107.00"
    page = body(
        bob_client.get(reverse("account_group", args=["depository"]), {"view": "household"})
    )
    assert page.count("Joint Checking") == 2
    assert "also linked by alice · counted there, not here" in page
    mine = body(bob_client.get(reverse("account_group", args=["depository"])))
    assert "also linked by" not in mine
    response = bob_client.get(reverse("export_accounts_csv"), {"view": "household"})
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert sorted((r["account"], r["owner"]) for r in rows) == [
        ("Bob Checking", "bob"),
        ("Family House", "alice"),
        ("Joint Checking", "alice"),
    ]
    # Alice sees the same account once too, counted under her own (older) connection.
    sharing.share_accept(share=sharing.share_invite(owner=bob, username="alice"))
    alice_data = _client(alice).get(reverse("dashboard_api"), {"view": "household"}).json()
    assert alice_data["totals"][0]["net_worth"] == "1123.00"  # 100 + 20 + 3 + 1000
    # Bob unlinks his copy's bank: nothing left to leave out.
    bobs.item.delete()
    data = bob_client.get(reverse("dashboard_api"), {"view": "household"}).json()
    assert data["totals"][0]["net_worth"] == "1103.00"
