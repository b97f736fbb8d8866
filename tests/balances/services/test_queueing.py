"""Queueing refreshes: one Item, a fan-out of many (one task each), a user's "Refresh now";
de-duplicated by the pending mark, which a publish that fails undoes."""

import re
from datetime import timedelta

import pytest
from django.db import DatabaseError
from django.urls import reverse
from django.utils import timezone
from kombu.exceptions import OperationalError as KombuOperationalError

from balances import tasks
from balances.models import PlaidItem
from balances.services import pending, queueing, store
from balances.shared_state import api as shared_state
from tests.factories import PlaidItemFactory, UserFactory
from tests.helpers import text

pytestmark = pytest.mark.django_db


def broker_down(monkeypatch, *, after: int = 0) -> list[int]:
    """Make publishing a refresh task fail (kombu's error) after `after` successes; return
    the Item ids published."""
    published: list[int] = []

    def delay(pk, **kwargs):
        if len(published) >= after:
            raise KombuOperationalError("broker down")
        published.append(pk)

    monkeypatch.setattr(tasks.refresh_item_balances, "delay", delay)
    return published


def is_pending(item: PlaidItem) -> bool:
    item.refresh_from_db()
    return item.is_refresh_pending


# --- One Item ---------------------------------------------------------------------------


def test_queueing_sets_pending_and_never_queues_twice(
    item, queued, django_capture_on_commit_callbacks, settings
):
    settings.BALANCE_SCHEDULED_SOURCE = "cached"
    with django_capture_on_commit_callbacks(execute=True):
        assert queueing.item_queue_refresh(item=item)
        assert not queueing.item_queue_refresh(item=item)
        assert queueing.items_queue_refresh(items=[item]) == 0
    assert queued == [(item.pk, {"realtime": False})]
    item.refresh_from_db()
    assert item.refresh_requested_at is not None
    assert item.is_refresh_pending


def test_inactive_item_is_not_queued(queued, django_capture_on_commit_callbacks):
    item = PlaidItemFactory(status=PlaidItem.Status.LOGIN_REQUIRED)
    with django_capture_on_commit_callbacks(execute=True):
        assert not queueing.item_queue_refresh(item=item)
        assert not queueing.item_queue_refresh_best_effort(item=item)
    assert queued == []
    item.refresh_from_db()
    assert item.refresh_requested_at is None


def test_task_ends_pending_so_the_next_refresh_can_be_queued(
    item, fake_plaid, queued, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        queueing.item_queue_refresh(item=item)
    item.refresh_from_db()
    requested = item.refresh_requested_at
    assert requested is not None
    assert tasks.refresh_item_balances.apply(args=[item.pk]).get() == "ok: 5 accounts"
    item.refresh_from_db()
    assert item.last_refreshed_at >= requested
    assert item.refresh_requested_at is None  # the store ended the pending refresh
    assert not item.is_refresh_pending
    with django_capture_on_commit_callbacks(execute=True):
        assert queueing.item_queue_refresh(item=item)


@pytest.mark.django_db(transaction=True)
def test_failed_publish_leaves_nothing_pending(item, monkeypatch):
    broker_down(monkeypatch)
    with pytest.raises(KombuOperationalError):
        queueing.item_queue_refresh(item=item)
    item.refresh_from_db()
    assert item.refresh_requested_at is None
    assert pending.item_pending_mark(item_id=item.pk)  # the next request is not refused


@pytest.mark.django_db(transaction=True)
def test_best_effort_queueing_with_the_broker_down_says_so_and_leaves_nothing_pending(
    item, monkeypatch
):
    broker_down(monkeypatch)
    assert not queueing.item_queue_refresh_best_effort(item=item)
    assert not is_pending(item)


# --- Many Items: beat's fan-out, the admin's action -------------------------------------


def test_fan_out_publishes_one_task_per_item_not_already_pending(
    queued, django_capture_on_commit_callbacks, settings
):
    settings.BALANCE_SCHEDULED_SOURCE = "realtime"
    a, b, already = PlaidItemFactory(), PlaidItemFactory(), PlaidItemFactory()
    revoked = PlaidItemFactory(status=PlaidItem.Status.REVOKED)
    assert pending.item_pending_mark(item_id=already.pk)
    with django_capture_on_commit_callbacks(execute=True):
        assert queueing.items_queue_refresh(items=[a, already, revoked, b]) == 2
    assert queued == [(a.pk, {"realtime": True}), (b.pk, {"realtime": True})]
    assert [is_pending(i) for i in (a, b, already, revoked)] == [True, True, True, False]


def test_fan_out_publishes_at_commit(queued, django_capture_on_commit_callbacks):
    item = PlaidItemFactory()
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        assert queueing.items_queue_refresh(items=[item], realtime=False) == 1
    assert queued == []  # nothing is sent before the transaction commits
    for callback in callbacks:
        callback()
    assert queued == [(item.pk, {"realtime": False})]


@pytest.mark.django_db(transaction=True)
def test_failed_publish_mid_fan_out_leaves_the_rest_not_pending(monkeypatch):
    first, second, third = (PlaidItemFactory() for _ in range(3))
    published = broker_down(monkeypatch, after=1)
    with pytest.raises(KombuOperationalError):
        queueing.items_queue_refresh(items=[first, second, third])
    assert published == [first.pk]
    assert [is_pending(i) for i in (first, second, third)] == [True, False, False]
    # The next fan-out queues them again.
    assert not pending.item_pending_mark(item_id=first.pk)
    assert pending.item_pending_mark(item_id=second.pk)
    assert pending.item_pending_mark(item_id=third.pk)


def test_database_failing_mid_fan_out_still_queues_the_items_marked(
    django_capture_on_commit_callbacks, queued_refreshes, monkeypatch
):
    first, second = PlaidItemFactory(), PlaidItemFactory()
    real_mark = pending.item_pending_mark

    def mark(*, item_id, not_refreshed_since=None):
        if item_id == second.pk:
            raise DatabaseError("the database went away")
        return real_mark(item_id=item_id, not_refreshed_since=not_refreshed_since)

    monkeypatch.setattr(pending, "item_pending_mark", mark)
    with (
        django_capture_on_commit_callbacks(execute=True),
        pytest.raises(DatabaseError),
    ):
        queueing.items_queue_refresh(items=PlaidItem.objects.order_by("pk"))
    assert queued_refreshes.item_ids == [first.pk]
    assert not real_mark(item_id=first.pk)  # still pending: its task is queued


# --- "Refresh now" ----------------------------------------------------------------------


def test_queue_refresh_skips_items_that_cannot_refresh(
    django_capture_on_commit_callbacks, monkeypatch
):
    queued = []
    monkeypatch.setattr(tasks.refresh_item_balances, "delay", lambda pk, **kw: queued.append(pk))
    user = UserFactory()
    healthy = PlaidItemFactory(owner=user)
    erroring = PlaidItemFactory(owner=user, status=PlaidItem.Status.ERROR)
    PlaidItemFactory(owner=user, status=PlaidItem.Status.LOGIN_REQUIRED)
    PlaidItemFactory(owner=user, status=PlaidItem.Status.REVOKED)
    PlaidItemFactory()  # someone else's

    with django_capture_on_commit_callbacks(execute=True):
        request = queueing.user_queue_refresh(user=user)

    assert sorted(i.pk for i in request.queued) == sorted([healthy.pk, erroring.pk])
    assert len(request.inactive) == 2
    assert sorted(queued) == sorted([healthy.pk, erroring.pk])


def test_refresh_now_is_throttled_per_item_and_says_when(
    client, queued, settings, django_capture_on_commit_callbacks, fake_plaid
):
    settings.BALANCE_REFRESH_NOW_INTERVAL = 600
    user = UserFactory()
    item = PlaidItemFactory(owner=user, institution_name="Chase")
    client.force_login(user)
    with django_capture_on_commit_callbacks(execute=True):
        first = client.post(reverse("refresh"), follow=True)
    assert "Refreshing 1 connection." in text(first)
    assert queued == [(item.pk, {"realtime": True, "on_demand": True})]
    # The task ran and stored: not pending any more, but refreshed on demand just now.
    fake_plaid.add_item(item.access_token)
    store.item_refresh_balances(item=item)
    item.refresh_from_db()
    with django_capture_on_commit_callbacks(execute=True):
        second = client.post(reverse("refresh"), follow=True)
    assert len(queued) == 1
    page = text(second)
    next_at = timezone.localtime(timezone.now() + timedelta(seconds=600))
    refreshed_at = timezone.localtime(item.last_refreshed_at).strftime("%H:%M %Z")
    assert f"Chase was refreshed at {refreshed_at}. The next refresh can run at" in page
    assert re.search(r"at \d\d:\d\d UTC \(in (9|10) minutes\)", page)  # the zone named
    assert (
        next_at.strftime("%H:%M") in page
        or (next_at - timedelta(minutes=1)).strftime("%H:%M") in page
    )


def test_refresh_now_never_claims_a_refresh_that_did_not_happen(
    client, queued, settings, django_capture_on_commit_callbacks
):
    """The issue's case: the database went away as the refresh started; pressing again."""
    settings.BALANCE_REFRESH_NOW_INTERVAL = 600
    user = UserFactory()
    item = PlaidItemFactory(owner=user, institution_name="Chase", last_refreshed_at=None)
    client.force_login(user)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("refresh"))
    assert len(queued) == 1
    # Its task met the outage and waits to retry (pending): pressing again says so.
    with django_capture_on_commit_callbacks(execute=True):
        page = text(client.post(reverse("refresh"), follow=True))
    assert "Chase is already being refreshed." in page
    assert "was refreshed" not in page
    # The retries gave up (the mark ended, nothing stored): still no claim of a refresh.
    pending.items_pending_end(item_ids=[item.pk])
    with django_capture_on_commit_callbacks(execute=True):
        page = text(client.post(reverse("refresh"), follow=True))
    assert len(queued) == 1  # the on-demand interval still holds
    assert "was refreshed" not in page
    assert re.search(
        r"Chase was asked for a refresh recently\. The next one can run at "
        r"\d\d:\d\d UTC \(in (9|10) minutes\)",
        page,
    )


def test_refresh_now_of_a_refresh_already_running_is_not_queued_again(
    client, queued, django_capture_on_commit_callbacks
):
    user = UserFactory()
    item = PlaidItemFactory(owner=user, institution_name="Chase")
    assert pending.item_pending_mark(item_id=item.pk)  # e.g. beat queued it a moment ago
    client.force_login(user)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("refresh"), follow=True)
    assert queued == []
    assert "Chase is already being refreshed." in text(response)
    assert shared_state.refresh_now_wait(item.pk) == 0  # the user may ask again later


@pytest.mark.django_db(transaction=True)  # on_commit runs at once, as in a real request
def test_refresh_now_with_redis_unreachable_gives_a_clear_message(client, settings, queued):
    settings.THROTTLE_REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens there
    user = UserFactory()
    item = PlaidItemFactory(owner=user)
    client.force_login(user)
    response = client.post(reverse("refresh"), follow=True)
    assert response.status_code == 200
    assert "the background service is not reachable" in text(response)
    assert "Your balances are unchanged" in text(response)
    assert queued == []
    item.refresh_from_db()
    assert item.refresh_requested_at is None


@pytest.mark.django_db(transaction=True)  # on_commit runs at once, as in a real request
def test_refresh_now_with_the_broker_down_lets_the_user_ask_again(monkeypatch):
    user = UserFactory()
    item = PlaidItemFactory(owner=user)
    broker_down(monkeypatch)
    with pytest.raises(KombuOperationalError):
        queueing.user_queue_refresh(user=user)
    assert shared_state.refresh_now_wait(item.pk) == 0  # the on-demand interval not spent
    assert not is_pending(item)


def test_refresh_now_of_one_item_queued_then_pending_then_throttled(
    queued_refreshes, django_capture_on_commit_callbacks, settings
):
    item = PlaidItemFactory()
    with django_capture_on_commit_callbacks(execute=True):
        outcome = queueing.item_queue_refresh_now(item=item)
    assert outcome.queued == (item,) and not (outcome.pending or outcome.throttled)
    assert queued_refreshes.tasks == [([item.pk], {"realtime": True, "on_demand": True})]
    item.refresh_from_db()
    assert queueing.item_queue_refresh_now(item=item).pending == (item,)
    PlaidItem.objects.filter(pk=item.pk).update(last_refreshed_at=timezone.now())
    item.refresh_from_db()
    ((throttled, next_at),) = queueing.item_queue_refresh_now(item=item).throttled
    assert throttled == item
    seconds = (next_at - timezone.now()).total_seconds()
    assert 0 < seconds <= settings.BALANCE_REFRESH_NOW_INTERVAL + 1
    assert len(queued_refreshes.tasks) == 1


def test_refresh_now_of_one_item_shares_the_users_interval(queued_refreshes):
    """One interval per Item, shared with the dashboard's button: no second refresh."""
    item = PlaidItemFactory()
    first = queueing.user_queue_refresh(user=item.owner)
    assert first.queued == (item,)
    PlaidItem.objects.filter(pk=item.pk).update(last_refreshed_at=timezone.now())
    item.refresh_from_db()
    assert queueing.item_queue_refresh_now(item=item).throttled


def test_refresh_now_of_an_item_needing_a_login_is_inactive(queued_refreshes):
    item = PlaidItemFactory(status=PlaidItem.Status.LOGIN_REQUIRED)
    assert queueing.item_queue_refresh_now(item=item).inactive == (item,)
    assert shared_state.refresh_now_wait(item.pk) == 0


def test_refresh_now_with_a_failed_publish_leaves_nothing_claimed(monkeypatch):
    def broken(**kwargs):
        raise KombuOperationalError("broker down")

    monkeypatch.setattr(queueing, "item_queue_refresh", broken)
    item = PlaidItemFactory()
    with pytest.raises(KombuOperationalError):
        queueing.item_queue_refresh_now(item=item)
    assert shared_state.refresh_now_wait(item.pk) == 0


# --- Opening the dashboard --------------------------------------------------------------


def test_scheduled_refreshes_are_cached_by_default(queued, django_capture_on_commit_callbacks):
    from django.conf import settings as live

    assert live.BALANCE_SCHEDULED_SOURCE == "cached"  # the default (tests/settings.py keeps it)
    item = PlaidItemFactory()
    with django_capture_on_commit_callbacks(execute=True):
        assert queueing.items_queue_refresh(items=[item]) == 1
    assert queued == [(item.pk, {"realtime": False})]


def test_opening_the_dashboard_refreshes_old_balances_in_real_time_once(
    queued, django_capture_on_commit_callbacks, settings
):
    settings.BALANCE_REFRESH_ON_OPEN_AFTER = 3600
    settings.BALANCE_REFRESH_NOW_INTERVAL = 300
    now = timezone.now()
    old = PlaidItemFactory(last_realtime_at=now - timedelta(hours=2))
    never = PlaidItemFactory()
    fresh = PlaidItemFactory(last_realtime_at=now - timedelta(minutes=5))
    # Recent cached balances do not count: only real-time ones.
    cached = PlaidItemFactory(last_refreshed_at=now, last_realtime_at=now - timedelta(hours=3))
    inactive = PlaidItemFactory(status=PlaidItem.Status.LOGIN_REQUIRED)
    items = [old, never, fresh, cached, inactive]
    with django_capture_on_commit_callbacks(execute=True):
        assert queueing.items_queue_refresh_on_open(items=items) == 3
    assert queued == [(i.pk, {"realtime": True}) for i in (old, never, cached)]
    assert old.is_refresh_pending  # on the object: the page shows it refreshing
    # Opened again: pending, so nothing; and once the refreshes ended (failed), throttled.
    with django_capture_on_commit_callbacks(execute=True):
        assert queueing.items_queue_refresh_on_open(items=items) == 0
    pending.items_pending_end(item_ids=[old.pk, never.pk, cached.pk])
    for i in items:
        i.refresh_from_db()
    with django_capture_on_commit_callbacks(execute=True):
        assert queueing.items_queue_refresh_on_open(items=items) == 0
    assert len(queued) == 3


def test_opening_the_dashboard_never_refreshes_when_turned_off(queued, settings):
    settings.BALANCE_REFRESH_ON_OPEN_AFTER = 0
    assert queueing.items_queue_refresh_on_open(items=[PlaidItemFactory()]) == 0
    assert queued == []


@pytest.mark.django_db(transaction=True)
def test_opening_the_dashboard_survives_a_broker_or_redis_outage(monkeypatch, settings):
    item = PlaidItemFactory()
    broker_down(monkeypatch)
    assert queueing.items_queue_refresh_on_open(items=[item, PlaidItemFactory()]) == 0
    assert not is_pending(item)
    assert shared_state.refresh_now_wait(item.pk) == 0  # its claim undone: asked next time
    settings.THROTTLE_REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens there
    assert queueing.items_queue_refresh_on_open(items=[PlaidItemFactory()]) == 0
