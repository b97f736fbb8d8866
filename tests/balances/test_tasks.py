import pytest
from celery.exceptions import Retry
from django.db import DatabaseError

from balances import tasks
from balances.models import PlaidItem
from balances.services import pending, queueing, refresh
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


def test_backoff_grows_and_is_capped(settings):
    settings.BALANCE_RETRY_BASE_SECONDS, settings.BALANCE_RETRY_CAP_SECONDS = 30, 1800
    assert 15 <= refresh.retry_delay(0) <= 30
    assert 60 <= refresh.retry_delay(2) <= 120
    assert 900 <= refresh.retry_delay(30) <= 1800


def test_fan_out_queues_every_active_item_in_batches(
    django_capture_on_commit_callbacks, queued_refreshes, settings
):
    settings.BALANCE_REFRESH_BATCH_SIZE = 2
    settings.BALANCE_SCHEDULED_SOURCE = "cached"
    active = [PlaidItemFactory(), PlaidItemFactory(status=PlaidItem.Status.ERROR)]
    active += [PlaidItemFactory() for _ in range(3)]
    PlaidItemFactory(status=PlaidItem.Status.REVOKED)
    with django_capture_on_commit_callbacks(execute=True):
        assert tasks.refresh_all_items() == 5
    assert [len(ids) for ids, _ in queued_refreshes.tasks] == [2, 2, 1]
    assert sorted(queued_refreshes.item_ids) == sorted(i.pk for i in active)
    assert {kw["realtime"] for _, kw in queued_refreshes.tasks} == {False}
    assert PlaidItem.objects.filter(refresh_requested_at__isnull=False).count() == 5


def test_database_failing_mid_fan_out_still_queues_the_items_marked(
    django_capture_on_commit_callbacks, queued_refreshes, monkeypatch
):
    first, second = PlaidItemFactory(), PlaidItemFactory()
    real_mark = pending.item_pending_mark

    def mark(*, item_id):
        if item_id == second.pk:
            raise DatabaseError("the database went away")
        return real_mark(item_id=item_id)

    monkeypatch.setattr(pending, "item_pending_mark", mark)
    with (
        django_capture_on_commit_callbacks(execute=True),
        pytest.raises(DatabaseError),
    ):
        queueing.items_queue_refresh(items=PlaidItem.objects.order_by("pk"))
    assert queued_refreshes.item_ids == [first.pk]
    assert not real_mark(item_id=first.pk)  # still pending: its task is queued
