"""`balances.selectors.items`: Items' freshness, and the operators' reads of Items."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from balances.models import PlaidCall, PlaidItem
from balances.selectors import items as selectors
from tests.factories import PlaidItemFactory

pytestmark = pytest.mark.django_db

Status = PlaidItem.Status


def test_freshness_flags_stale_items(settings):
    settings.BALANCE_STALE_AFTER = 3600
    now = timezone.now()
    fresh = PlaidItemFactory(last_refreshed_at=now)
    old = PlaidItemFactory(last_refreshed_at=now - timedelta(hours=2))
    never = PlaidItemFactory(last_refreshed_at=None)
    assert [(f.item, f.is_stale) for f in selectors.items_freshness([fresh, old, never])] == [
        (fresh, False),
        (old, True),
        (never, True),
    ]


@pytest.mark.parametrize(
    ("fields", "needs_attention"),
    [
        ({}, False),
        ({"last_refreshed_at": None}, True),  # stale
        ({"status": Status.ERROR}, True),
        ({"status": Status.LOGIN_REQUIRED}, True),
        ({"status": Status.REVOKED}, True),
        ({"error_code": "INSTITUTION_DOWN"}, True),  # old balances kept
        ({"warning_code": "PENDING_EXPIRATION"}, True),
        ({"new_accounts_available": True}, True),
        ({"refresh_requested_at": "now"}, True),  # refreshing
    ],
)
def test_what_needs_attention(fields, needs_attention):
    now = timezone.now()
    fields = {k: now if v == "now" else v for k, v in fields.items()}
    item = PlaidItemFactory(**{"last_refreshed_at": now - timedelta(minutes=1), **fields})
    (freshness,) = selectors.items_freshness([item])
    assert freshness.needs_attention is needs_attention


def test_item_by_reference_finds_plaid_item_id_then_pk():
    item = PlaidItemFactory(plaid_item_id="QNWnmvzAKwcx9RwPXqVMSoRBjkroVnhpge7bq")
    assert selectors.item_by_reference(" QNWnmvzAKwcx9RwPXqVMSoRBjkroVnhpge7bq\n") == item
    assert selectors.item_by_reference(str(item.pk)) == item
    # An item_id made of digits wins over another Item's primary key.
    digits = PlaidItemFactory(plaid_item_id=str(item.pk))
    assert selectors.item_by_reference(str(item.pk)) == digits


@pytest.mark.parametrize("reference", ["nope", "999999", ""])
def test_item_by_reference_not_found(reference):
    PlaidItemFactory()
    with pytest.raises(selectors.ItemNotFound, match="No Item has the id"):
        selectors.item_by_reference(reference)


def test_items_matching_any_chosen_condition_oldest_refresh_first(settings):
    settings.BALANCE_STALE_AFTER = 3600
    now = timezone.now()
    fine = PlaidItemFactory(last_refreshed_at=now)
    stale = PlaidItemFactory(last_refreshed_at=now - timedelta(hours=3))
    erroring = PlaidItemFactory(last_refreshed_at=now - timedelta(minutes=5), status=Status.ERROR)
    relogin = PlaidItemFactory(
        last_refreshed_at=now - timedelta(minutes=10), status=Status.LOGIN_REQUIRED
    )
    assert list(selectors.items_matching()) == [stale, relogin, erroring, fine]
    assert list(selectors.items_matching(stale=True)) == [stale]
    assert list(selectors.items_matching(erroring=True)) == [erroring]
    assert list(selectors.items_matching(login_required=True)) == [relogin]
    assert list(selectors.items_matching(stale=True, erroring=True, login_required=True)) == [
        stale,
        relogin,
        erroring,
    ]


def test_status_history_collapses_runs_of_one_outcome(django_assert_num_queries):
    item = PlaidItemFactory()
    start = datetime(2026, 3, 1, tzinfo=UTC)
    codes = ["", "", "ITEM_LOGIN_REQUIRED", "ITEM_LOGIN_REQUIRED", "ITEM_LOGIN_REQUIRED", "", ""]
    for n, code in enumerate(codes):
        PlaidCall.objects.create(
            item=item,
            called_at=start + timedelta(days=n),
            endpoint="/accounts/balance/get",
            error_code=code,
        )
    PlaidCall.objects.create(item=PlaidItemFactory(), called_at=start, endpoint="/item/get")
    with django_assert_num_queries(1):
        periods = selectors.item_status_history(item=item)
    assert [(p.outcome, p.since, p.until, p.calls) for p in periods] == [
        ("ok", start + timedelta(days=5), start + timedelta(days=6), 2),
        ("ITEM_LOGIN_REQUIRED", start + timedelta(days=2), start + timedelta(days=4), 3),
        ("ok", start, start + timedelta(days=1), 2),
    ]
    # Only the newest `limit` calls are read.
    assert [(p.outcome, p.calls) for p in selectors.item_status_history(item=item, limit=3)] == [
        ("ok", 2),
        ("ITEM_LOGIN_REQUIRED", 1),
    ]


# Offsets in seconds from now (None: not set), and statuses, that the pending rule tells
# apart: before and after the TTL's cutoff, a finish or failure before or after the request.
_offsets = st.one_of(st.none(), st.sampled_from([-7300, -3700, -3500, -60, -1, 0, 1, 60, 600]))


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    status=st.sampled_from(list(Status.values)),
    requested=_offsets,
    refreshed=_offsets,
    failed=_offsets,
)
def test_another_items_pending_refresh_follows_the_one_rule(
    django_settings_ttl, status, requested, refreshed, failed
):
    """`other_refresh_pending` (a plain read, the rule applied in Python) answers as
    `PlaidItem.is_refresh_pending` and its SQL twin `not_refresh_pending` do."""
    owner, this, other, stranger = django_settings_ttl
    now = timezone.now()

    def at(offset):
        return None if offset is None else now + timedelta(seconds=offset)

    PlaidItem.objects.filter(pk=other.pk).update(
        status=status,
        refresh_requested_at=at(requested),
        last_refreshed_at=at(refreshed),
        error_at=at(failed),
    )
    other.refresh_from_db()
    in_sql = (
        PlaidItem.objects.filter(pk=other.pk)
        .active()
        .exclude(pk__in=PlaidItem.objects.not_refresh_pending(now))
        .exists()
    )
    answer = selectors.other_refresh_pending(user_id=owner.pk, item_id=this.pk, now=now)
    assert answer == other.is_refresh_pending == in_sql
    # Asked by `other`: `this` (pending) counts; another user's pending Items never do.
    assert selectors.other_refresh_pending(user_id=owner.pk, item_id=other.pk, now=now)
    assert not selectors.other_refresh_pending(
        user_id=stranger.owner_id, item_id=stranger.pk, now=now
    )


@pytest.fixture
def django_settings_ttl(settings):
    settings.BALANCE_REFRESH_PENDING_TTL = 3600
    owner = PlaidItemFactory().owner
    this = PlaidItemFactory(owner=owner, refresh_requested_at=timezone.now())
    other = PlaidItemFactory(owner=owner)
    stranger = PlaidItemFactory(refresh_requested_at=timezone.now())  # another user's, pending
    return owner, this, other, stranger


def test_item_by_id_reads_the_whole_item_or_none():
    item = PlaidItemFactory()
    read = selectors.item_by_id(item_id=item.pk)
    assert read == item and read.owner_id == item.owner_id
    assert read.access_token == item.access_token  # decrypted, as through the ORM
    assert read.created_at == item.created_at and read.status == item.status
    assert selectors.item_by_id(item_id=item.pk + 1000) is None
