"""The pending mark (`PlaidItem.refresh_requested_at`): a compare-and-set mark, kept for a
retry, ended when the refresh ends; and the one rule that reads it, in Python and SQL."""

from datetime import timedelta

import pytest
from django.utils import timezone

from balances.models import PlaidItem
from balances.services import pending
from tests.factories import PlaidItemFactory

pytestmark = pytest.mark.django_db

TTL = 3600


@pytest.fixture(autouse=True)
def pending_ttl(settings):
    settings.BALANCE_REFRESH_PENDING_TTL = TTL


def requested_at(item: PlaidItem):
    return PlaidItem.objects.values_list("refresh_requested_at", flat=True).get(pk=item.pk)


def pending_in_sql(item: PlaidItem, now=None) -> bool:
    """Whether the queryset rule counts `item` pending at `now` (default: the present)."""
    return not PlaidItem.objects.filter(pk=item.pk).not_refresh_pending(now).exists()


# --- Mark -------------------------------------------------------------------------------


def test_mark_is_a_compare_and_set_a_second_mark_is_refused():
    item = PlaidItemFactory()
    before = timezone.now()
    assert pending.item_pending_mark(item_id=item.pk)
    first = requested_at(item)
    assert first is not None and first >= before
    assert not pending.item_pending_mark(item_id=item.pk)
    assert requested_at(item) == first  # the refused mark changed nothing
    item.refresh_from_db()
    assert item.is_refresh_pending


def test_mark_is_refused_for_an_inactive_item():
    for status in (PlaidItem.Status.LOGIN_REQUIRED, PlaidItem.Status.REVOKED):
        item = PlaidItemFactory(status=status)
        assert not pending.item_pending_mark(item_id=item.pk)
        assert requested_at(item) is None
    assert not pending.item_pending_mark(item_id=10**9)  # no such Item


def test_an_erroring_item_is_active_and_is_marked():
    item = PlaidItemFactory(status=PlaidItem.Status.ERROR)
    assert pending.item_pending_mark(item_id=item.pk)
    assert not pending.item_pending_mark(item_id=item.pk)


def test_a_mark_older_than_the_ttl_no_longer_counts_and_is_replaced():
    item = PlaidItemFactory(refresh_requested_at=timezone.now() - timedelta(seconds=TTL + 5))
    item.refresh_from_db()
    assert not item.is_refresh_pending  # e.g. its task was lost with the queue
    assert pending.item_pending_mark(item_id=item.pk)
    assert requested_at(item) > timezone.now() - timedelta(seconds=5)


@pytest.mark.parametrize("done", ["last_refreshed_at", "error_at"])
def test_a_mark_the_item_refreshed_or_failed_after_no_longer_counts(done):
    asked = timezone.now() - timedelta(minutes=5)
    item = PlaidItemFactory(refresh_requested_at=asked, **{done: asked + timedelta(seconds=1)})
    assert pending.item_pending_mark(item_id=item.pk)
    assert requested_at(item) > asked


# --- Keep -------------------------------------------------------------------------------


def test_keep_renews_the_mark_so_a_retry_finds_it():
    almost_expired = timezone.now() - timedelta(seconds=TTL - 5)
    item = PlaidItemFactory(refresh_requested_at=almost_expired)
    pending.item_pending_keep(item_id=item.pk, seconds=30)
    renewed = requested_at(item)
    assert renewed > almost_expired + timedelta(seconds=TTL - 60)  # runs from now again
    # Still pending when the retry is due, 30 s from now (and its margin after).
    later = timezone.now() + timedelta(seconds=30 + pending.RETRY_MARGIN_SECONDS)
    assert pending_in_sql(item, later)
    assert not pending.item_pending_mark(item_id=item.pk)


def test_keep_for_a_retry_later_than_the_ttl_stays_pending_until_it_is_due():
    item = PlaidItemFactory()
    assert pending.item_pending_mark(item_id=item.pk)
    wait = 2 * TTL  # a long backoff
    start = timezone.now()
    pending.item_pending_keep(item_id=item.pk, seconds=wait)
    due = start + timedelta(seconds=wait)
    assert pending_in_sql(item, due)
    assert pending_in_sql(item, due + timedelta(seconds=pending.RETRY_MARGIN_SECONDS - 5))
    assert not pending_in_sql(item, due + timedelta(seconds=pending.RETRY_MARGIN_SECONDS + 5))


def test_keep_makes_a_mark_that_had_lapsed_count_again():
    item = PlaidItemFactory(refresh_requested_at=timezone.now() - timedelta(seconds=TTL + 5))
    assert not pending_in_sql(item)
    pending.item_pending_keep(item_id=item.pk, seconds=10)
    assert pending_in_sql(item)
    item.refresh_from_db()
    assert item.is_refresh_pending


# --- End --------------------------------------------------------------------------------


def test_end_clears_the_marks_of_the_items_given_only():
    a, b, other = PlaidItemFactory(), PlaidItemFactory(), PlaidItemFactory()
    for item in (a, b, other):
        assert pending.item_pending_mark(item_id=item.pk)
    pending.items_pending_end(item_ids=[a.pk, b.pk])
    assert [requested_at(i) is None for i in (a, b, other)] == [True, True, False]
    assert pending.item_pending_mark(item_id=a.pk)
    assert pending.item_pending_mark(item_id=b.pk)
    assert not pending.item_pending_mark(item_id=other.pk)
    pending.items_pending_end(item_ids=[])  # nothing to end: nothing happens
    assert requested_at(other) is not None


# --- One rule: `PlaidItem.is_refresh_pending` == not in `not_refresh_pending()` ---------


def rule_cases():
    """(name, fields) of Items on every side of each condition of the rule."""
    now = timezone.now()
    whole = now.replace(microsecond=0) - timedelta(minutes=10)  # no fraction of a second
    asked = now - timedelta(minutes=10)
    before, after = asked - timedelta(seconds=1), asked + timedelta(seconds=1)
    lapsed = now - timedelta(seconds=TTL + 60)
    ahead = now + timedelta(minutes=30)  # kept for a retry later than the TTL
    erroring = PlaidItem.Status.ERROR
    login, revoked = PlaidItem.Status.LOGIN_REQUIRED, PlaidItem.Status.REVOKED
    return [
        ("never asked", {}),
        ("never asked, refreshed", {"last_refreshed_at": before}),
        ("asked", {"refresh_requested_at": asked}),
        ("asked, erroring Item", {"refresh_requested_at": asked, "status": erroring}),
        ("asked, refreshed before", {"refresh_requested_at": asked, "last_refreshed_at": before}),
        ("asked, refreshed after", {"refresh_requested_at": asked, "last_refreshed_at": after}),
        ("asked, refreshed then", {"refresh_requested_at": asked, "last_refreshed_at": asked}),
        ("asked, failed before", {"refresh_requested_at": asked, "error_at": before}),
        ("asked, failed after", {"refresh_requested_at": asked, "error_at": after}),
        ("asked, failed then", {"refresh_requested_at": asked, "error_at": asked}),
        (
            "asked, refreshed before, failed after",
            {"refresh_requested_at": asked, "last_refreshed_at": before, "error_at": after},
        ),
        (
            "asked, both before",
            {"refresh_requested_at": asked, "last_refreshed_at": before, "error_at": before},
        ),
        (
            "asked on a whole second, refreshed a fraction after",
            {"refresh_requested_at": whole, "last_refreshed_at": whole + timedelta(microseconds=1)},
        ),
        (
            "asked on a whole second, refreshed a fraction before",
            {"refresh_requested_at": whole, "last_refreshed_at": whole - timedelta(microseconds=1)},
        ),
        ("asked longer ago than the TTL", {"refresh_requested_at": lapsed}),
        ("kept ahead for a retry", {"refresh_requested_at": ahead, "last_refreshed_at": asked}),
        ("asked, needs re-login", {"refresh_requested_at": asked, "status": login}),
        ("asked, revoked", {"refresh_requested_at": asked, "status": revoked}),
        (
            "asked, revoked, refreshed before",
            {"refresh_requested_at": asked, "status": revoked, "last_refreshed_at": before},
        ),
    ]


def test_python_and_sql_read_the_pending_rule_alike():
    cases = rule_cases()
    items = {name: PlaidItemFactory(**fields) for name, fields in cases}
    not_pending = set(PlaidItem.objects.not_refresh_pending().values_list("pk", flat=True))
    active = set(PlaidItem.objects.active().values_list("pk", flat=True))
    in_python, in_sql = {}, {}
    for name, item in items.items():
        item.refresh_from_db()  # the values as stored, read back
        in_python[name] = item.is_refresh_pending
        in_sql[name] = item.pk in active and item.pk not in not_pending
    assert in_python == in_sql
    # The rule itself, so that agreeing cannot mean both are wrong alike.
    assert {name for name, is_pending in in_python.items() if is_pending} == {
        "asked",
        "asked, erroring Item",
        "asked, refreshed before",
        "asked, failed before",
        "asked, both before",
        "asked on a whole second, refreshed a fraction before",
        "kept ahead for a retry",
    }


def test_the_queryset_excludes_exactly_the_pending_items_among_active_ones():
    items = [PlaidItemFactory(**fields) for _, fields in rule_cases()]
    pending_by_python = {i.pk for i in PlaidItem.objects.all() if i.is_refresh_pending}
    ready = set(PlaidItem.objects.active().not_refresh_pending().values_list("pk", flat=True))
    active = {i.pk for i in items if i.is_active}
    assert ready == active - pending_by_python
    # And the mark agrees: it succeeds exactly for the active Items not pending.
    marked = {i.pk for i in items if pending.item_pending_mark(item_id=i.pk)}
    assert marked == ready
