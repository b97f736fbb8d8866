"""The Celery tasks: a refresh by Item id (re-queued for retries), beat's fan-out (one
refresh task per Item); the services they run are tested in tests/balances/services/."""

from datetime import timedelta

import pytest
from celery.exceptions import Retry
from django.db import OperationalError
from django.utils import timezone

from balances import tasks
from balances.models import BeatRun, PlaidCall, PlaidItem
from balances.services import pending, store
from tests.factories import PlaidItemFactory

pytestmark = pytest.mark.django_db


def test_task_refreshes_by_primary_key(item):
    assert tasks.refresh_item_balances.apply(args=[item.pk]).get() == "ok: 5 accounts"
    assert item.accounts.count() == 5


def test_transient_error_is_retried_with_backoff(item, fake_plaid, monkeypatch):
    fake_plaid.fail_next("INSTITUTION_DOWN", retryable=True)
    seen = {}

    def fake_retry(**kwargs):
        seen.update(kwargs)
        return Retry("retry", when=kwargs["countdown"])

    monkeypatch.setattr(tasks.refresh_item_balances, "retry", fake_retry)
    with pytest.raises(Retry):
        tasks.refresh_item_balances.run(item.pk)
    assert 15 <= seen["countdown"] <= 30
    assert seen["kwargs"] == {"realtime": True, "attempt": 1}
    item.refresh_from_db()
    # Not erroring while retries remain; the failed call is in the Item's call log.
    assert (item.status, item.error_code) == (PlaidItem.Status.HEALTHY, "")
    assert list(item.calls.values_list("error_code", flat=True)) == ["INSTITUTION_DOWN"]


def test_permanent_error_is_not_retried(item, fake_plaid, monkeypatch):
    fake_plaid.fail_next("ITEM_LOGIN_REQUIRED")
    monkeypatch.setattr(
        tasks.refresh_item_balances, "retry", lambda **kw: pytest.fail("must not retry")
    )
    assert tasks.refresh_item_balances.run(item.pk) == "failed: ITEM_LOGIN_REQUIRED"
    item.refresh_from_db()
    assert item.status == PlaidItem.Status.LOGIN_REQUIRED


def test_retries_stop_at_the_cap(item, fake_plaid, settings):
    settings.BALANCE_REFRESH_MAX_RETRIES = 0
    fake_plaid.fail_next("INSTITUTION_DOWN", retryable=True)
    assert tasks.refresh_item_balances.apply(args=[item.pk]).get() == "failed: INSTITUTION_DOWN"
    item.refresh_from_db()
    assert (item.status, item.error_code) == (PlaidItem.Status.ERROR, "INSTITUTION_DOWN")


def test_items_that_cannot_refresh_are_skipped(fake_plaid):
    item = PlaidItemFactory(status=PlaidItem.Status.LOGIN_REQUIRED)
    assert tasks.refresh_item_balances.run(item.pk) == "skipped"
    assert tasks.refresh_item_balances.run(10**9) == "skipped"
    assert fake_plaid.calls == []


def test_database_giving_up_on_the_store_is_retried_with_backoff(item, fake_plaid, monkeypatch):
    def deadlock(**kwargs):
        raise OperationalError("deadlock detected")

    monkeypatch.setattr(store, "item_store_balances", deadlock)
    seen = {}

    def fake_retry(**kwargs):
        seen.update(kwargs)
        return Retry("retry", when=kwargs["countdown"])

    monkeypatch.setattr(tasks.refresh_item_balances, "retry", fake_retry)
    assert pending.item_pending_mark(item_id=item.pk)
    with pytest.raises(Retry):
        tasks.refresh_item_balances.run(item.pk)
    assert 15 <= seen["countdown"] <= 30
    assert seen["args"] == (item.pk,)
    assert seen["kwargs"] == {"realtime": True, "attempt": 1}
    item.refresh_from_db()
    assert item.is_refresh_pending  # its retry is coming
    assert PlaidCall.objects.filter(item=item).count() == 1  # the call happened


def test_redelivered_task_already_done_is_skipped(item, fake_plaid, monkeypatch):
    assert pending.item_pending_mark(item_id=item.pk)
    store.item_refresh_balances(item=item)  # the dead worker stored it, never acked
    calls = len(fake_plaid.calls)
    monkeypatch.setattr(tasks.refresh_item_balances.request, "delivery_info", {"redelivered": True})
    assert tasks.refresh_item_balances.run(item.pk) == "skipped: already refreshed"
    assert len(fake_plaid.calls) == calls


def test_fan_out_queues_every_active_item_one_task_each(
    django_capture_on_commit_callbacks, queued_refreshes, settings
):
    settings.BALANCE_SCHEDULED_SOURCE = "cached"
    active = [PlaidItemFactory(), PlaidItemFactory(status=PlaidItem.Status.ERROR)]
    active += [PlaidItemFactory() for _ in range(3)]
    PlaidItemFactory(status=PlaidItem.Status.REVOKED)
    with django_capture_on_commit_callbacks(execute=True):
        assert tasks.refresh_all_items() == 5
    assert [len(ids) for ids, _ in queued_refreshes.tasks] == [1] * 5
    assert sorted(queued_refreshes.item_ids) == sorted(i.pk for i in active)
    assert {kw["realtime"] for _, kw in queued_refreshes.tasks} == {False}
    assert PlaidItem.objects.filter(refresh_requested_at__isnull=False).count() == 5


def test_fan_out_skips_items_already_pending(queued_refreshes, django_capture_on_commit_callbacks):
    a, b = PlaidItemFactory(), PlaidItemFactory()
    assert pending.item_pending_mark(item_id=a.pk)
    with django_capture_on_commit_callbacks(execute=True):
        assert tasks.refresh_all_items() == 1
    assert queued_refreshes.item_ids == [b.pk]


def test_the_task_resumes_when_delivered_again(
    settings, queued_refreshes, django_capture_on_commit_callbacks
):
    """`tasks.refresh_all_items` passes the broker's redelivery on as `resume`."""
    settings.BALANCE_REFRESH_INTERVAL = 3600
    cycle = timezone.now() - timedelta(minutes=5)
    BeatRun.objects.create(task=BeatRun.FANOUT, ran_at=cycle, items_queued=1)
    item = PlaidItemFactory(last_refreshed_at=None)
    assert tasks.refresh_all_items() == 0  # a second beat: skipped
    task = tasks.refresh_all_items
    task.push_request(delivery_info={"redelivered": True})  # as the worker sees it
    try:
        with django_capture_on_commit_callbacks(execute=True):
            assert task.run() == 1
    finally:
        task.pop_request()
    assert queued_refreshes.item_ids == [item.pk]
