"""`balances.models`: encrypted tokens, constraints, append-only snapshots, and the rules
of one Item that must read the same in SQL (`PlaidItemQuerySet`) and Python (properties)."""

import itertools
from datetime import timedelta

import pytest
from cryptography.fernet import Fernet
from django.db import IntegrityError, connection
from django.utils import timezone

from balances import crypto
from balances.models import BalanceSnapshot, PlaidItem
from tests.factories import AccountFactory, BalanceSnapshotFactory, PlaidItemFactory, UserFactory

Status = PlaidItem.Status

pytestmark = pytest.mark.django_db


def test_access_token_is_encrypted_at_rest():
    item = PlaidItemFactory(access_token="access-sandbox-plaintext")
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT access_token_encrypted FROM balances_plaiditem WHERE id = %s", [item.pk]
        )
        (stored,) = cursor.fetchone()
    assert "access-sandbox-plaintext" not in stored
    item.refresh_from_db()
    assert item.access_token == "access-sandbox-plaintext"


def test_wrong_key_fails_loudly(settings):
    item = PlaidItemFactory(access_token="access-sandbox-plaintext")
    settings.FIELD_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    with pytest.raises(crypto.TokenDecryptionError, match="FIELD_ENCRYPTION_KEY"):
        _ = item.access_token


def test_old_keys_still_decrypt_and_rotate(settings):
    item = PlaidItemFactory(access_token="tok")
    old = settings.FIELD_ENCRYPTION_KEYS[0]
    settings.FIELD_ENCRYPTION_KEYS = [Fernet.generate_key().decode(), old]
    assert item.access_token == "tok"
    rotated = crypto.rotate(item.access_token_encrypted)
    settings.FIELD_ENCRYPTION_KEYS = settings.FIELD_ENCRYPTION_KEYS[:1]
    assert crypto.decrypt(rotated) == "tok"


def test_account_id_is_unique_within_an_item():
    account = AccountFactory(plaid_account_id="same")
    AccountFactory(plaid_account_id="same")  # another Item: fine
    with pytest.raises(IntegrityError):
        AccountFactory(item=account.item, plaid_account_id="same")


def test_plaid_item_id_is_unique():
    PlaidItemFactory(plaid_item_id="it")
    with pytest.raises(IntegrityError):
        PlaidItemFactory(plaid_item_id="it")


def test_snapshots_are_append_only():
    snapshot = BalanceSnapshotFactory()
    with pytest.raises(TypeError):
        snapshot.save()
    with pytest.raises(TypeError):
        BalanceSnapshot.objects.all().update(current=1)


# --- PlaidItem: display name -------------------------------------------------------------


def test_display_name_is_the_name_else_the_institution_id_else_your_bank():
    owner = UserFactory(username="ann")
    named = PlaidItemFactory(owner=owner, institution_name="Chase", institution_id="ins_3")
    unnamed = PlaidItemFactory(owner=owner, institution_name="", institution_id="ins_3")
    unknown = PlaidItemFactory(owner=owner, institution_name="", institution_id="")
    assert [i.display_name for i in (named, unnamed, unknown)] == ["Chase", "ins_3", "Your bank"]
    assert str(unknown) == "Your bank (ann)"


# --- PlaidItem: SQL and Python agree ------------------------------------------------------


def test_active_is_healthy_or_erroring():
    items = {status: PlaidItemFactory(status=status) for status in Status}
    active = set(PlaidItem.objects.active())
    assert active == {items[Status.HEALTHY], items[Status.ERROR]}
    assert active == {item for item in items.values() if item.is_active}


def test_stale_and_fresh_agree_with_is_stale(settings):
    settings.BALANCE_STALE_AFTER = 7200
    now = timezone.now()
    items = [
        PlaidItemFactory(last_refreshed_at=when)
        for when in (
            None,
            now,
            now - timedelta(seconds=7200 - 60),  # a minute before it goes stale
            now - timedelta(seconds=7200 + 60),
            now - timedelta(days=400),
        )
    ]
    stale, fresh = set(PlaidItem.objects.stale()), set(PlaidItem.objects.fresh())
    assert stale == {item for item in items if item.is_stale}
    assert stale == {items[0], items[3], items[4]}
    assert fresh == set(items) - stale
    # The clock may be passed in: an hour on, the item refreshed a minute short of stale is.
    later = now + timedelta(hours=1)
    assert set(PlaidItem.objects.stale(later)) == {items[0], items[2], items[3], items[4]}
    assert set(PlaidItem.objects.fresh(later)) == {items[1]}


def test_erroring_is_an_error_status_or_a_recorded_error():
    in_error = PlaidItemFactory(status=Status.ERROR)
    healthy_with_error = PlaidItemFactory(status=Status.HEALTHY, error_code="INSTITUTION_DOWN")
    PlaidItemFactory(status=Status.HEALTHY)
    PlaidItemFactory(status=Status.LOGIN_REQUIRED, error_code="ITEM_LOGIN_REQUIRED")
    PlaidItemFactory(status=Status.REVOKED, error_code="USER_PERMISSION_REVOKED")
    assert set(PlaidItem.objects.erroring()) == {in_error, healthy_with_error}


def test_login_required_is_the_status_or_an_expiry_warning():
    relogin = PlaidItemFactory(status=Status.LOGIN_REQUIRED)
    expiring = PlaidItemFactory(status=Status.HEALTHY, warning_code="PENDING_EXPIRATION")
    erroring_expiring = PlaidItemFactory(status=Status.ERROR, warning_code="PENDING_DISCONNECT")
    PlaidItemFactory(status=Status.HEALTHY)
    PlaidItemFactory(status=Status.ERROR, error_code="INSTITUTION_DOWN")
    PlaidItemFactory(status=Status.REVOKED)
    assert set(PlaidItem.objects.login_required()) == {relogin, expiring, erroring_expiring}


def test_pending_covers_erroring_items_and_expires(settings):
    now = timezone.now()
    erroring = PlaidItemFactory(status=PlaidItem.Status.ERROR, refresh_requested_at=now)
    assert erroring.is_refresh_pending
    lost = PlaidItemFactory(refresh_requested_at=now - timedelta(hours=2))
    settings.BALANCE_REFRESH_PENDING_TTL = 3600
    assert not lost.is_refresh_pending
    done = PlaidItemFactory(refresh_requested_at=now, last_refreshed_at=now + timedelta(seconds=1))
    assert not done.is_refresh_pending
    revoked = PlaidItemFactory(status=PlaidItem.Status.REVOKED, refresh_requested_at=now)
    assert not revoked.is_refresh_pending


def test_not_refresh_pending_agrees_with_is_refresh_pending(settings):
    """Every combination of status, request age, last refresh and last error."""
    settings.BALANCE_REFRESH_PENDING_TTL = 3600
    now = timezone.now()
    second = timedelta(seconds=1)
    items = []
    for status, requested in itertools.product(Status, (None, now, now - timedelta(hours=2))):
        base = requested or now
        outcomes = (None, base - second, base, base + second)
        for refreshed, errored in itertools.product(outcomes, outcomes):
            items.append(
                PlaidItemFactory(
                    status=status,
                    refresh_requested_at=requested,
                    last_refreshed_at=refreshed,
                    error_at=errored,
                )
            )
    not_pending = set(PlaidItem.objects.active().not_refresh_pending())
    pending = set(PlaidItem.objects.active()) - not_pending
    assert pending == {item for item in items if item.is_refresh_pending}
    assert pending  # the grid has pending Items and others
    assert len(pending) < len(items)


@pytest.mark.django_db
def test_manual_account_type_reads_the_same_in_sql_and_python():
    from balances.models import ManualAccount
    from tests.factories import UserFactory

    user = UserFactory()
    made = [
        ManualAccount.objects.create(
            owner=user,
            name=f"{kind} {category}",
            kind=kind,
            category=category,
            iso_currency_code="USD",
            value=1,
            value_as_of="2026-01-01",
        )
        for kind in ManualAccount.Kind.values
        for category in ManualAccount.Category.values
    ]
    for wanted in (
        ["loan"],
        ["depository"],
        ["investment"],
        ["other"],
        ["credit"],
        ["other", "loan"],
    ):
        in_sql = set(ManualAccount.objects.filter(ManualAccount.type_q(wanted)))
        assert in_sql == {m for m in made if m.type in wanted}, wanted
    assert {m.type for m in made} == {"loan", "depository", "investment", "other"}


@pytest.mark.django_db
def test_counted_accounts_are_open_and_no_copy_of_another_connections():
    from django.utils import timezone

    from balances.models import Account
    from tests.factories import AccountFactory

    kept = AccountFactory()
    copy = AccountFactory(duplicate_of=kept)
    closed = AccountFactory(closed_at=timezone.now())
    assert list(Account.objects.counted()) == [kept]
    assert sorted(a.pk for a in Account.objects.in_history()) == sorted([kept.pk, closed.pk])
    assert [a.is_counted for a in (kept, copy, closed)] == [True, False, False]
    kept.delete()
    copy.refresh_from_db()
    assert copy.duplicate_of is None and copy.is_counted  # the copy counts again
