"""`balances.services.households`: invite by username, accept, decline, end, choose
accounts; every bad input a ValidationError that saves nothing; state changes are
compare-and-set."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from balances.models import HouseholdShare, ManualAccount
from balances.services import households
from tests.factories import AccountFactory, ManualAccountFactory, PlaidItemFactory, UserFactory

pytestmark = pytest.mark.django_db
State = HouseholdShare.State


def _house(owner) -> ManualAccount:
    return ManualAccountFactory(owner=owner, value=100, value_as_of="2026-01-01")


def test_invite_then_accept_then_end():
    alice, bob = UserFactory(username="alice"), UserFactory(username="bob")
    share = households.share_invite(owner=alice, username=" bob ")
    assert (share.owner, share.viewer, share.state, share.all_accounts) == (
        alice,
        bob,
        State.INVITED,
        True,
    )
    households.share_accept(share=share)
    share.refresh_from_db()
    assert share.state == State.ACCEPTED and share.responded_at is not None
    households.share_end(share=share)
    share.refresh_from_db()
    assert share.state == State.ENDED and share.ended_at is not None
    # Ended: nothing more can be done with it, and a new invitation may follow.
    with pytest.raises(ValidationError):
        households.share_accept(share=share)
    with pytest.raises(ValidationError):
        households.share_end(share=share)
    again = households.share_invite(owner=alice, username="bob")
    assert again.pk != share.pk


def test_decline_then_no_accept():
    alice, _bob = UserFactory(username="alice"), UserFactory(username="bob")
    share = households.share_invite(owner=alice, username="bob")
    households.share_decline(share=share)
    with pytest.raises(ValidationError, match="no longer open"):
        households.share_accept(share=share)
    assert HouseholdShare.objects.get(pk=share.pk).state == State.DECLINED


@pytest.mark.parametrize(
    ("username", "message"),
    [
        ("", "Enter the username"),
        ("   ", "Enter the username"),
        ("nobody", "No user of this app is called nobody"),
        ("alice", "invite someone else"),
        ("a\x00b", "not a username"),
        ("x" * 255, "not a username"),
        ("inactive", "No user of this app"),
        ("nobody@example.com", "No user of this app has the e-mail address"),
        ("gone@example.com", "No user of this app has the e-mail address"),
        ("twin@example.com", "Several users of this app have the e-mail address"),
    ],
)
def test_bad_invitations_are_refused_and_save_nothing(username, message):
    alice = UserFactory(username="alice")
    UserFactory(username="inactive", is_active=False, email="gone@example.com")
    UserFactory(username="twin1", email="twin@example.com")
    UserFactory(username="twin2", email="Twin@Example.com")
    with pytest.raises(ValidationError, match=message):
        households.share_invite(owner=alice, username=username)
    assert not HouseholdShare.objects.exists()


def test_one_open_share_per_owner_and_viewer():
    alice, _bob = UserFactory(username="alice"), UserFactory(username="bob")
    households.share_invite(owner=alice, username="bob")
    with pytest.raises(ValidationError, match="already share"):
        households.share_invite(owner=alice, username="bob")
    assert HouseholdShare.objects.count() == 1
    # The other way round is another share.
    households.share_invite(owner=_bob, username="alice")
    # The database holds the rule too, whatever the caller.
    with pytest.raises(IntegrityError), transaction.atomic():
        HouseholdShare.objects.create(owner=alice, viewer=_bob)


def test_no_share_to_oneself_even_in_the_database():
    alice = UserFactory(username="alice")
    with pytest.raises(IntegrityError), transaction.atomic():
        HouseholdShare.objects.create(owner=alice, viewer=alice)


def test_chosen_accounts_must_be_the_owners_and_at_least_one():
    alice, bob = UserFactory(username="alice"), UserFactory(username="bob")
    mine = AccountFactory(item=PlaidItemFactory(owner=alice))
    theirs = AccountFactory(item=PlaidItemFactory(owner=bob))
    house, their_house = _house(alice), _house(bob)
    for ids, manual in (([theirs.pk], []), ([], [their_house.pk]), (["x"], []), ([], [])):
        with pytest.raises(ValidationError):
            households.share_invite(
                owner=alice, username="bob", all_accounts=False, account_ids=ids, manual_ids=manual
            )
    assert not HouseholdShare.objects.exists()
    share = households.share_invite(
        owner=alice,
        username="bob",
        all_accounts=False,
        account_ids=[str(mine.pk)],
        manual_ids=[house.pk],
    )
    assert list(share.accounts.all()) == [mine] and list(share.manual_accounts.all()) == [house]


def test_set_accounts_switches_between_all_and_chosen():
    alice, _bob = UserFactory(username="alice"), UserFactory(username="bob")
    one = AccountFactory(item=PlaidItemFactory(owner=alice))
    share = households.share_invite(owner=alice, username="bob")
    households.share_set_accounts(share=share, all_accounts=False, account_ids=[one.pk])
    share.refresh_from_db()
    assert not share.all_accounts and list(share.accounts.all()) == [one]
    # A bad choice changes nothing.
    with pytest.raises(ValidationError):
        households.share_set_accounts(share=share, all_accounts=False, account_ids=[10**9])
    share.refresh_from_db()
    assert not share.all_accounts and list(share.accounts.all()) == [one]
    households.share_set_accounts(share=share, all_accounts=True)
    share.refresh_from_db()
    assert share.all_accounts and not share.accounts.exists()
    households.share_end(share=share)
    with pytest.raises(ValidationError, match="ended"):
        households.share_set_accounts(share=share, all_accounts=True)


def test_a_stale_copy_cannot_accept_an_ended_share():
    """Compare-and-set: a tab holding the invitation accepts after the owner withdrew it."""
    alice, _bob = UserFactory(username="alice"), UserFactory(username="bob")
    share = households.share_invite(owner=alice, username="bob")
    stale = HouseholdShare.objects.get(pk=share.pk)
    households.share_end(share=share)
    with pytest.raises(ValidationError):
        households.share_accept(share=stale)
    assert HouseholdShare.objects.get(pk=share.pk).state == State.ENDED


def test_an_invitation_by_e_mail_address_reaches_the_invitees_notifications():
    from balances.models import Alert, AlertDelivery

    alice = UserFactory(username="alice")
    bob = UserFactory(username="bob", email="bob@example.com")
    share = households.share_invite(owner=alice, username="  BOB@example.com ")
    assert share.viewer == bob and share.state == State.INVITED
    (alert,) = Alert.objects.filter(owner=bob)
    assert alert.title == "alice invites you to see their balances"
    assert alert.link == "/settings/household/" and alert.link_label == "Answer the invitation"
    # Sent as bob's alert settings say: by e-mail (on by default, bob has an address).
    assert AlertDelivery.objects.filter(message=alert.message).exists()
    assert not Alert.objects.filter(owner=alice).exists()
