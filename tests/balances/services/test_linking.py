"""Linking services: link tokens, token exchange with the duplicate guard, update mode, unlink."""

from datetime import timedelta

import pytest
from django.db import IntegrityError
from django.utils import timezone
from kombu.exceptions import OperationalError

from balances import tasks
from balances.models import Account, BalanceSnapshot, PlaidCall, PlaidItem, Profile
from balances.plaid.errors import PlaidError
from balances.plaid.link_metadata import MetadataError, parse_link_metadata
from balances.selectors.items import items_sharing_accounts
from balances.services import linking, store
from tests.factories import PlaidItemFactory, UserFactory
from tests.helpers import new_link

pytestmark = pytest.mark.django_db


def link(fake_plaid, user, **kwargs):
    public_token, metadata, _ = new_link(fake_plaid, **kwargs)
    return linking.item_link(
        user=user, public_token=public_token, metadata=parse_link_metadata(metadata)
    )


# --- Link tokens --------------------------------------------------------------------------


def test_link_token_uses_a_stable_random_user_id_never_the_username(fake_plaid, settings):
    settings.PLAID_WEBHOOK_URL = "https://money.example.com/hooks/plaid/"
    user = UserFactory(username="alice")
    linking.link_token_create_for_user(user=user)
    linking.link_token_create_for_user(user=user)
    first, second = fake_plaid.link_token_requests
    profile = Profile.objects.get(user=user)
    assert first["client_user_id"] == second["client_user_id"] == str(profile.plaid_user_id)
    assert "alice" not in first["client_user_id"]
    assert first["webhook"] == "https://money.example.com/hooks/plaid/"
    assert "access_token" not in first


def test_link_token_without_webhook_setting_sends_none(fake_plaid, settings):
    settings.PLAID_WEBHOOK_URL = ""
    linking.link_token_create_for_user(user=UserFactory())
    assert fake_plaid.link_token_requests[0]["webhook"] is None


def test_different_users_get_different_ids(fake_plaid):
    linking.link_token_create_for_user(user=UserFactory())
    linking.link_token_create_for_user(user=UserFactory())
    ids = {r["client_user_id"] for r in fake_plaid.link_token_requests}
    assert len(ids) == 2


def test_update_mode_token_uses_the_items_access_token(fake_plaid):
    item = PlaidItemFactory()
    linking.link_token_create_for_item(item=item)
    linking.link_token_create_for_item(item=item, account_selection=True)
    reconnect, new_accounts = fake_plaid.link_token_requests
    assert reconnect["access_token"] == item.access_token
    assert reconnect["account_selection"] is False
    assert new_accounts["account_selection"] is True
    assert reconnect["client_user_id"] == str(Profile.objects.get(user=item.owner).plaid_user_id)


def test_every_link_token_carries_the_redirect_uri_when_set(fake_plaid, settings):
    settings.PLAID_REDIRECT_URI = "https://money.example.com/link/oauth-return/"
    item = PlaidItemFactory()
    linking.link_token_create_for_user(user=item.owner)
    linking.link_token_create_for_item(item=item)
    linking.link_token_create_for_item(item=item, account_selection=True)
    uris = [r["redirect_uri"] for r in fake_plaid.link_token_requests]
    assert uris == ["https://money.example.com/link/oauth-return/"] * 3


def test_no_redirect_uri_setting_sends_none(fake_plaid, settings):
    settings.PLAID_REDIRECT_URI = ""
    item = PlaidItemFactory()
    linking.link_token_create_for_user(user=item.owner)
    linking.link_token_create_for_item(item=item)
    assert [r["redirect_uri"] for r in fake_plaid.link_token_requests] == [None, None]


# --- Linking ------------------------------------------------------------------------------


def test_link_stores_item_marks_it_pending_and_queues_refresh(
    fake_plaid, django_capture_on_commit_callbacks, queued
):
    user = UserFactory()
    with django_capture_on_commit_callbacks(execute=True):
        item = link(fake_plaid, user)
    assert (item.owner, item.institution_id, item.institution_name) == (user, "ins_3", "Chase")
    assert item.refresh_requested_at is not None
    assert queued == [(item.pk, {"realtime": True})]
    assert fake_plaid.removed == []


def test_institution_name_falls_back_to_links_metadata(fake_plaid, monkeypatch):
    def down(institution_id):
        raise PlaidError(code="INTERNAL_SERVER_ERROR", message="down", retryable=True)

    monkeypatch.setattr("balances.plaid.client.institutions_get_by_id", down)
    public_token, metadata, _ = new_link(fake_plaid)
    metadata["institution"]["name"] = "Chase (from Link)"
    item = linking.item_link(
        user=UserFactory(),
        public_token=public_token,
        metadata=parse_link_metadata(metadata),
        queue_refresh=False,
    )
    assert item.institution_name == "Chase (from Link)"


def test_link_stores_item_and_queues_first_refresh_on_commit(
    fake_plaid, django_capture_on_commit_callbacks, queued
):
    user = UserFactory()
    public_token = fake_plaid.sandbox_public_token_create("ins_3")

    with django_capture_on_commit_callbacks(execute=True):
        item = linking.item_link(user=user, public_token=public_token)

    assert item.owner == user
    assert (item.institution_id, item.institution_name) == ("ins_3", "Chase")
    assert item.access_token == fake_plaid.public_tokens[public_token][0]
    assert queued == [(item.pk, {"realtime": True})]


def test_link_of_an_item_owned_by_someone_else_is_refused(fake_plaid):
    public_token = fake_plaid.sandbox_public_token_create("ins_3")
    _access_token, item_id = fake_plaid.public_tokens[public_token]
    PlaidItemFactory(plaid_item_id=item_id)
    with pytest.raises(linking.LinkError):
        linking.item_link(user=UserFactory(), public_token=public_token, queue_refresh=False)
    assert PlaidItem.objects.count() == 1


def test_link_refused_by_plaid_stores_nothing(fake_plaid):
    fake_plaid.public_tokens["public-bad"] = ("x", "y")
    fake_plaid.fail_next("INVALID_PUBLIC_TOKEN")
    with pytest.raises(PlaidError):
        linking.item_link(user=UserFactory(), public_token="public-bad")
    assert PlaidItem.objects.count() == 0


def linked_with_accounts(fake_plaid, user, **kwargs):
    item = link(fake_plaid, user, **kwargs)
    store.item_refresh_balances(item=item)
    return item


def test_same_institution_and_masks_is_a_duplicate_removed_at_plaid(fake_plaid):
    user = UserFactory()
    existing = linked_with_accounts(fake_plaid, user)
    public_token, metadata, _ = new_link(fake_plaid)
    with pytest.raises(linking.ItemAlreadyLinked) as raised:
        linking.item_link(
            user=user, public_token=public_token, metadata=parse_link_metadata(metadata)
        )
    assert raised.value.existing == existing
    assert "already linked" in str(raised.value)
    assert list(PlaidItem.objects.all()) == [existing]
    new_access_token = fake_plaid.public_tokens[public_token][0]
    assert fake_plaid.removed == [new_access_token]


def test_duplicate_whose_removal_says_item_not_found_still_counts_as_removed(
    fake_plaid, monkeypatch
):
    user = UserFactory()
    linked_with_accounts(fake_plaid, user)
    fake_plaid.errors.clear()

    def gone(access_token):
        raise PlaidError(code="ITEM_NOT_FOUND", message="gone")

    monkeypatch.setattr("balances.plaid.client.item_remove", gone)
    public_token, metadata, _ = new_link(fake_plaid)
    with pytest.raises(linking.ItemAlreadyLinked):
        linking.item_link(
            user=user, public_token=public_token, metadata=parse_link_metadata(metadata)
        )
    assert PlaidItem.objects.count() == 1


def test_other_masks_at_the_same_bank_are_a_second_login_not_a_duplicate(fake_plaid):
    user = UserFactory()
    linked_with_accounts(fake_plaid, user)
    link(fake_plaid, user, masks=("9000", "9001"))
    assert PlaidItem.objects.filter(owner=user).count() == 2
    assert fake_plaid.removed == []


def test_same_masks_at_another_bank_are_not_a_duplicate(fake_plaid):
    user = UserFactory()
    linked_with_accounts(fake_plaid, user)
    link(fake_plaid, user, institution_id="ins_109508")
    assert PlaidItem.objects.filter(owner=user).count() == 2


def test_different_users_linking_the_same_bank_are_independent(fake_plaid):
    linked_with_accounts(fake_plaid, UserFactory())
    link(fake_plaid, UserFactory())
    assert PlaidItem.objects.count() == 2
    assert fake_plaid.removed == []


def test_failure_after_exchange_removes_the_new_item_at_plaid(fake_plaid, monkeypatch):
    def broken_save(*args, **kwargs):
        raise IntegrityError("disk full")

    monkeypatch.setattr(PlaidItem, "save", broken_save)
    public_token, metadata, _ = new_link(fake_plaid)
    with pytest.raises(IntegrityError):
        linking.item_link(
            user=UserFactory(), public_token=public_token, metadata=parse_link_metadata(metadata)
        )
    assert fake_plaid.removed == [fake_plaid.public_tokens[public_token][0]]


def test_reused_public_token_is_refused_and_stores_nothing_more(fake_plaid):
    user = UserFactory()
    public_token, _, _ = new_link(fake_plaid)
    linking.item_link(user=user, public_token=public_token, queue_refresh=False)
    with pytest.raises(PlaidError) as raised:
        linking.item_link(user=user, public_token=public_token, queue_refresh=False)
    assert raised.value.code == "INVALID_PUBLIC_TOKEN"
    assert PlaidItem.objects.count() == 1


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("x", "invalid details"),
        ({"institution": "Chase"}, "invalid institution"),
        ({"accounts": {"id": 1}}, "invalid list of accounts"),
        ({"accounts": ["a"]}, "invalid account"),
        ({"accounts": [{"mask": 1234}]}, "invalid account mask"),
        ({"institution": {"name": "x" * 1000}}, "invalid institution name"),
    ],
)
def test_malformed_metadata_is_refused(raw, message):
    with pytest.raises(MetadataError, match=message):
        parse_link_metadata(raw)


def test_metadata_parses_plaid_links_shape():
    metadata = parse_link_metadata(
        {
            "institution": {"institution_id": "ins_3", "name": "Chase"},
            "accounts": [{"id": "a1", "name": "Checking", "mask": "0000"}, {"id": "a2"}],
            "link_session_id": "s1",
            "transfer_status": None,
        }
    )
    assert metadata is not None
    assert (metadata.institution_id, metadata.institution_name) == ("ins_3", "Chase")
    assert [a.mask for a in metadata.accounts] == ["0000", ""]
    assert parse_link_metadata(None) is None


# --- Update mode --------------------------------------------------------------------------


def test_update_complete_makes_the_item_healthy_and_refreshes_it(
    django_capture_on_commit_callbacks, queued
):
    item = PlaidItemFactory(
        status=PlaidItem.Status.LOGIN_REQUIRED,
        error_code="ITEM_LOGIN_REQUIRED",
        error_message="sign in again",
        error_at=timezone.now(),
        warning_code="PENDING_EXPIRATION",
        expires_at=timezone.now() + timedelta(days=5),
        new_accounts_available=True,
    )
    with django_capture_on_commit_callbacks(execute=True):
        linking.item_update_complete(item=item)
    item.refresh_from_db()
    assert item.status == PlaidItem.Status.HEALTHY
    assert (item.error_code, item.error_message, item.error_at) == ("", "", None)
    assert (item.warning_code, item.expires_at, item.new_accounts_available) == ("", None, False)
    assert item.refresh_requested_at is not None
    assert queued == [(item.pk, {"realtime": True, "on_demand": True})]


@pytest.mark.django_db(transaction=True)
def test_update_complete_with_the_queue_down_still_repairs_the_item(monkeypatch):
    def down(*args, **kwargs):
        raise OperationalError("broker down")

    monkeypatch.setattr(tasks.refresh_item_balances, "delay", down)
    item = PlaidItemFactory(
        status=PlaidItem.Status.LOGIN_REQUIRED, error_code="ITEM_LOGIN_REQUIRED"
    )
    # Autocommit, as in a view: the task is published at once, and that fails.
    linking.item_update_complete(item=item)
    item.refresh_from_db()
    assert (item.status, item.error_code) == (PlaidItem.Status.HEALTHY, "")
    assert item.refresh_requested_at is None  # nothing pending: nothing was queued


@pytest.mark.django_db(transaction=True)
def test_link_with_the_queue_down_keeps_the_item(fake_plaid, monkeypatch):
    published = []

    def down(*args, **kwargs):
        published.append(args)
        raise OperationalError("broker down")

    monkeypatch.setattr(tasks.refresh_item_balances, "delay", down)
    item = link(fake_plaid, UserFactory())
    assert published == [(item.pk,)]
    assert PlaidItem.objects.get() == item
    assert fake_plaid.removed == []


# --- Unlinking ----------------------------------------------------------------------------


def item_with_history():
    item = PlaidItemFactory()
    account = Account.objects.create(
        item=item, plaid_account_id="a1", name="Checking", mask="0000", type="depository"
    )
    BalanceSnapshot.objects.create(account=account, taken_at=timezone.now())
    PlaidCall.objects.create(item=item, called_at=timezone.now(), endpoint="/item/get")
    return item


def test_unlink_removes_at_plaid_then_deletes_item_accounts_and_history(fake_plaid):
    item = item_with_history()
    token = item.access_token
    linking.item_unlink(item=item)
    assert fake_plaid.removed == [token]
    assert PlaidItem.objects.count() == Account.objects.count() == 0
    assert BalanceSnapshot.objects.count() == PlaidCall.objects.count() == 0


def test_unlink_of_an_item_plaid_no_longer_knows_still_unlinks(fake_plaid):
    item = item_with_history()
    fake_plaid.fail_next("ITEM_NOT_FOUND")
    linking.item_unlink(item=item)
    assert PlaidItem.objects.count() == 0


@pytest.mark.parametrize(
    ("code", "retryable", "message"),
    [
        ("CONNECTION_ERROR", True, "could not be reached"),
        ("INTERNAL_SERVER_ERROR", True, "could not be reached"),
        ("INVALID_API_KEYS", False, "refused"),
    ],
)
def test_unlink_failing_at_plaid_changes_nothing(fake_plaid, code, retryable, message):
    item = item_with_history()
    fake_plaid.fail_next(code, retryable=retryable)
    with pytest.raises(linking.LinkError, match=message):
        linking.item_unlink(item=item)
    assert PlaidItem.objects.count() == Account.objects.count() == 1
    assert BalanceSnapshot.objects.count() == 1


# --- A bank linked twice never counts twice -------------------------------------------------


def usd_net_worth(user):
    from balances.domain.totals import totals_by_currency
    from balances.selectors import accounts

    (usd,) = totals_by_currency(accounts.account_balances(user=user))
    return usd.net_worth


def todays_net_worth(user):
    from balances.models import NetWorthDay

    row = NetWorthDay.objects.get(user=user, currency="USD", day=timezone.localdate())
    return row.assets - row.liabilities


def link_subset(fake_plaid, user, indexes, **kwargs):
    """Link the example bank again with only the accounts at `indexes` ticked (new Plaid
    ids, as a second Item has): no Link metadata, as the sandbox command and a browser
    that sends none."""
    public_token, _, _ = new_link(fake_plaid)
    reply = fake_plaid.replies[fake_plaid.public_tokens[public_token][0]]
    reply["accounts"] = [
        {**a, "account_id": f"{a['account_id']}-again"}
        for i, a in enumerate(reply["accounts"])
        if i in indexes
    ]
    item = linking.item_link(user=user, public_token=public_token, **kwargs)
    store.item_refresh_balances(item=item)
    return item


def test_relinking_a_subset_of_accounts_never_changes_net_worth(fake_plaid):
    user = UserFactory()
    first = linked_with_accounts(fake_plaid, user)
    assert usd_net_worth(user) == todays_net_worth(user) == 44110
    second = link_subset(fake_plaid, user, {0, 3})  # the checking account and the card
    store.item_refresh_balances(item=first)
    assert PlaidItem.objects.filter(owner=user).count() == 2
    assert usd_net_worth(user) == todays_net_worth(user) == 44110
    copies = Account.objects.filter(item=second)
    assert {a.duplicate_of.item_id for a in copies} == {first.pk}
    assert {(a.mask, a.duplicate_of.mask) for a in copies} == {("0000", "0000"), ("3333", "3333")}
    assert items_sharing_accounts(item=second) == [first]
    assert items_sharing_accounts(item=first) == [second]
    assert fake_plaid.removed == []


def test_a_subset_linked_first_then_the_whole_bank_counts_each_account_once(fake_plaid):
    user = UserFactory()
    first = link_subset(fake_plaid, user, {1})
    second = linked_with_accounts(fake_plaid, user)
    assert usd_net_worth(user) == todays_net_worth(user) == 44110
    (copy,) = Account.objects.filter(item=second, duplicate_of__isnull=False)
    assert (copy.mask, copy.duplicate_of.item_id) == ("1111", first.pk)


def test_the_same_accounts_reported_by_plaid_are_a_duplicate_whatever_link_claims(fake_plaid):
    user = UserFactory()
    existing = linked_with_accounts(fake_plaid, user)
    public_token, metadata, _ = new_link(fake_plaid)
    for account in metadata["accounts"]:
        account["mask"] = "9" + account["mask"][1:]  # the browser's word is not Plaid's
    with pytest.raises(linking.ItemAlreadyLinked):
        linking.item_link(
            user=user, public_token=public_token, metadata=parse_link_metadata(metadata)
        )
    assert list(PlaidItem.objects.all()) == [existing]
    assert fake_plaid.removed == [fake_plaid.public_tokens[public_token][0]]


def test_the_sandbox_path_has_the_duplicate_guard_too(fake_plaid):
    user = UserFactory()
    first = linking.item_link_sandbox(user=user, institution_id="ins_3", queue_refresh=False)
    store.item_refresh_balances(item=first)
    with pytest.raises(linking.ItemAlreadyLinked) as raised:
        linking.item_link_sandbox(user=user, institution_id="ins_3", queue_refresh=False)
    assert raised.value.existing == first
    assert list(PlaidItem.objects.all()) == [first]
    assert len(fake_plaid.removed) == 1 and fake_plaid.removed[0] != first.access_token
    assert usd_net_worth(user) == 44110


def test_accounts_unreadable_after_the_exchange_removes_the_new_item(fake_plaid, monkeypatch):
    user = UserFactory()

    def down(access_token):
        raise PlaidError(code="INTERNAL_SERVER_ERROR", message="down", retryable=True)

    monkeypatch.setattr("balances.plaid.client.accounts_get", down)
    public_token, metadata, _ = new_link(fake_plaid)
    with pytest.raises(linking.LinkError, match="could not list this bank's accounts"):
        linking.item_link(
            user=user, public_token=public_token, metadata=parse_link_metadata(metadata)
        )
    assert PlaidItem.objects.count() == 0
    assert fake_plaid.removed == [fake_plaid.public_tokens[public_token][0]]


def test_keeping_one_connection_removes_the_other_at_plaid_and_here(fake_plaid):
    user = UserFactory()
    first = linked_with_accounts(fake_plaid, user)
    second = link_subset(fake_plaid, user, {0, 3})
    removed = linking.item_keep(keep=second)
    assert removed == ["Chase"]
    assert fake_plaid.removed == [first.access_token]
    assert list(PlaidItem.objects.filter(owner=user)) == [second]
    assert not Account.objects.filter(duplicate_of__isnull=False).exists()
    # The kept connection's accounts count now: checking 110 - card 410.
    assert usd_net_worth(user) == todays_net_worth(user) == -300


def test_unlinking_the_older_connection_makes_the_copies_count(fake_plaid):
    user = UserFactory()
    first = linked_with_accounts(fake_plaid, user)
    second = link_subset(fake_plaid, user, {4})
    linking.item_unlink(item=first)
    assert Account.objects.get(item=second).duplicate_of is None
    assert usd_net_worth(user) == todays_net_worth(user) == 43200


def test_accounts_added_in_update_mode_never_count_twice(fake_plaid, queued_refreshes):
    user = UserFactory()
    linked_with_accounts(fake_plaid, user)
    second = link_subset(fake_plaid, user, {0})
    # Plaid reports the card as new at the second connection; update mode adds it.
    first_reply = fake_plaid.replies[PlaidItem.objects.exclude(pk=second.pk).get().access_token]
    fake_plaid.replies[second.access_token]["accounts"].append(
        {**first_reply["accounts"][3], "account_id": "card-again"}
    )
    second.new_accounts_available = True
    second.save()
    linking.item_update_complete(item=second)
    store.item_refresh_balances(item=second)
    card = Account.objects.get(item=second, plaid_account_id="card-again")
    assert card.duplicate_of is not None and card.duplicate_of.mask == "3333"
    assert usd_net_worth(user) == todays_net_worth(user) == 44110
