"""The Celery tasks: a refresh by Item id (re-queued for retries), beat's fan-out (one
refresh task per Item); the services they run are tested in tests/balances/services/."""

from datetime import timedelta

import pytest
from django.db import OperationalError, connection
from django.utils import timezone
from kombu.exceptions import OperationalError as KombuOperationalError

from balances import tasks
from balances.models import Account, BeatRun, PlaidCall, PlaidItem
from balances.plaid import client as plaid_client
from balances.services import pending, refresh, store
from tests.factories import PlaidItemFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def no_kept_replies():
    """Each test starts and ends with no Plaid reply kept for a retry in this process."""
    refresh._kept.clear()
    yield
    refresh._kept.clear()


def test_task_refreshes_by_primary_key(item):
    assert tasks.refresh_item_balances.apply(args=[item.pk]).get() == "ok: 5 accounts"
    assert item.accounts.count() == 5


def test_refresh_now_stays_on_demand_through_its_retries(item, fake_plaid, monkeypatch):
    fake_plaid.fail_next("INSTITUTION_DOWN", retryable=True)
    seen = {}

    def queue_again(args, kwargs, countdown):
        seen.update(args=args, kwargs=kwargs, countdown=countdown)

    monkeypatch.setattr(tasks.refresh_item_balances, "apply_async", queue_again)
    assert tasks.refresh_item_balances.run(item.pk, on_demand=True).startswith("retry")
    assert seen["kwargs"] == {"realtime": True, "attempt": 1, "on_demand": True}


def test_transient_error_is_retried_with_backoff(item, fake_plaid, monkeypatch):
    fake_plaid.fail_next("INSTITUTION_DOWN", retryable=True)
    seen = {}

    def queue_again(args, kwargs, countdown):
        seen.update(args=args, kwargs=kwargs, countdown=countdown)

    monkeypatch.setattr(tasks.refresh_item_balances, "apply_async", queue_again)
    assert tasks.refresh_item_balances.run(item.pk).startswith("retry")
    assert 15 <= seen["countdown"] <= 30
    assert seen["kwargs"] == {"realtime": True, "attempt": 1}
    item.refresh_from_db()
    # Not erroring while retries remain; the failed call is in the Item's call log.
    assert (item.status, item.error_code) == (PlaidItem.Status.HEALTHY, "")
    assert list(item.calls.values_list("error_code", flat=True)) == ["INSTITUTION_DOWN"]


def test_permanent_error_is_not_retried(item, fake_plaid, monkeypatch):
    fake_plaid.fail_next("ITEM_LOGIN_REQUIRED")
    monkeypatch.setattr(
        tasks.refresh_item_balances, "apply_async", lambda **kw: pytest.fail("must not retry")
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

    def queue_again(args, kwargs, countdown):
        seen.update(args=args, kwargs=kwargs, countdown=countdown)

    monkeypatch.setattr(tasks.refresh_item_balances, "apply_async", queue_again)
    assert pending.item_pending_mark(item_id=item.pk)
    assert tasks.refresh_item_balances.run(item.pk).startswith("retry")
    assert 15 <= seen["countdown"] <= 30
    assert seen["args"] == (item.pk,)
    fetched_at = seen["kwargs"].pop("fetched_at")  # when Plaid answered: the kept reply's
    assert seen["kwargs"] == {"realtime": True, "attempt": 1}
    assert item.access_token not in fetched_at
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


# --- A fault at each point of a refresh: retried or released, none billed twice ----------
# transaction=True: as in a worker, no transaction around the task (inside one, Django
# marks it for rollback after a failed UPDATE, which a worker never sees).


class Retries:
    """Runs the refresh task as a worker would, collecting the retries it queues."""

    def __init__(self, monkeypatch):
        self.queued = []
        monkeypatch.setattr(tasks.refresh_item_balances, "apply_async", self._queue_again)

    def _queue_again(self, *, args, kwargs, countdown):
        self.queued.append((args, kwargs, countdown))

    def run(self, *args, **kwargs):
        """Run the task once; return its result ("retry: ..." when it queued itself again)."""
        return tasks.refresh_item_balances.run(*args, **kwargs)

    def run_queued(self):
        """Run every retry queued so far (their countdown passed); return the results."""
        queued, self.queued = self.queued, []
        return [self.run(*args, **kwargs) for args, kwargs, _ in queued]


def arm_after_the_plaid_call(database_fault, monkeypatch):
    real = plaid_client.accounts_balance_get

    def answer_then_fail(access_token, **kwargs):
        reply = real(access_token, **kwargs)
        database_fault.start()  # Plaid answered (a billed call), then the database went
        return reply

    monkeypatch.setattr(plaid_client, "accounts_balance_get", answer_then_fail)


def arm_while_storing(database_fault, monkeypatch):
    # Halfway through the store's transaction: accounts written, snapshots not yet.
    database_fault.start(when=lambda sql: sql.startswith('INSERT INTO "balances_balancesnapshot"'))


def arm_after_storing(database_fault, monkeypatch):
    # The store committed, but the connection broke before its caller heard so.
    real = store.item_store_fetched

    def store_then_fail(**kwargs):
        real(**kwargs)
        database_fault.start()
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(store, "item_store_fetched", store_then_fail)


FAULTS = {
    "before the first read": lambda database_fault, monkeypatch: database_fault.start(),
    "after the Plaid call": arm_after_the_plaid_call,
    "while storing": arm_while_storing,
    "after storing": arm_after_storing,
}


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("point", list(FAULTS))
def test_a_database_fault_at_each_point_refreshes_every_item_once_after_it_clears(
    point, fake_plaid, database_fault, monkeypatch, settings
):
    settings.BALANCE_RETRY_BASE_SECONDS = 30
    items = [PlaidItemFactory() for _ in range(3)]
    retries = Retries(monkeypatch)
    for item in items:
        fake_plaid.add_item(item.access_token)
        assert pending.item_pending_mark(item_id=item.pk)  # queued ("Refresh now", beat)
    with monkeypatch.context() as during:
        FAULTS[point](database_fault, during)
        for item in items:
            assert retries.run(item.pk).startswith("retry")  # not failed: retried
            database_fault.clear()  # the next Item meets the fault at the same point
            FAULTS[point](database_fault, during)
    database_fault.clear()
    # Each retry is due within one retry interval (backoff with jitter), and stays pending
    # until then: beat and "Refresh now" do not queue it twice.
    assert [args for args, _, _ in retries.queued] == [(item.pk,) for item in items]
    assert all(15 <= countdown <= 30 for _, _, countdown in retries.queued)
    for item in items:
        item.refresh_from_db()
        if item.last_refreshed_at is None:  # not stored (after storing: stored, not pending)
            assert item.is_refresh_pending
            assert not pending.item_pending_mark(item_id=item.pk)
    # The fault cleared: the first retry of each Item refreshes it.
    results = retries.run_queued()
    assert all(r in ("ok: 5 accounts", "skipped: already stored") for r in results), results
    assert retries.queued == []
    # Every Item refreshed, none twice: one billed call each, logged once.
    assert sorted(token for _, token in fake_plaid.calls) == sorted(i.access_token for i in items)
    for item in items:
        item.refresh_from_db()
        assert item.last_refreshed_at is not None
        assert not item.is_refresh_pending
        assert Account.objects.filter(item=item).count() == 5
        assert list(PlaidCall.objects.filter(item=item).values_list("error_code", flat=True)) == [
            ""
        ]


@pytest.mark.django_db(transaction=True)
def test_a_database_down_for_every_retry_gives_up_and_releases_the_mark(
    item, fake_plaid, database_fault, monkeypatch, settings
):
    settings.BALANCE_REFRESH_MAX_RETRIES = 1
    retries = Retries(monkeypatch)
    assert pending.item_pending_mark(item_id=item.pk)
    database_fault.start()
    assert retries.run(item.pk).startswith("retry")
    ((args, kwargs, _),) = retries.queued
    assert kwargs["attempt"] == 1
    # Down at the last retry's first read, back for what follows: the mark is ended.
    database_fault.clear()
    first_read = {"failed": False}

    def fail_first_statement(execute, sql, params, many, context):
        if not first_read["failed"]:
            first_read["failed"] = True
            raise OperationalError("server closed the connection unexpectedly")
        return execute(sql, params, many, context)

    with connection.execute_wrapper(fail_first_statement), pytest.raises(OperationalError):
        tasks.refresh_item_balances.run(*args, **kwargs)
    assert fake_plaid.calls == []
    item.refresh_from_db()
    assert not item.is_refresh_pending  # the next request is not refused
    assert pending.item_pending_mark(item_id=item.pk)


@pytest.mark.django_db(transaction=True)
def test_a_database_still_down_when_giving_up_leaves_the_mark_to_expire(
    item, fake_plaid, database_fault, settings, caplog
):
    settings.BALANCE_REFRESH_MAX_RETRIES = 0
    assert pending.item_pending_mark(item_id=item.pk)
    database_fault.start()
    # The worker does not crash on the failed release (InterfaceError is no DatabaseError).
    with pytest.raises(OperationalError):
        tasks.refresh_item_balances.run(item.pk)
    database_fault.clear()
    assert "pending mark not ended; it expires on its own" in caplog.text
    item.refresh_from_db()
    assert item.is_refresh_pending  # until BALANCE_REFRESH_PENDING_TTL


def test_a_retry_that_cannot_be_queued_releases_the_mark(item, fake_plaid, monkeypatch):
    def broker_down(**kwargs):
        raise KombuOperationalError("Error 111 connecting to 127.0.0.1:6379")

    monkeypatch.setattr(tasks.refresh_item_balances, "apply_async", broker_down)
    fake_plaid.fail_next("INSTITUTION_DOWN", retryable=True)
    assert pending.item_pending_mark(item_id=item.pk)
    with pytest.raises(KombuOperationalError):
        tasks.refresh_item_balances.run(item.pk)
    item.refresh_from_db()
    assert not item.is_refresh_pending  # no retry comes: the next request may queue it


@pytest.mark.parametrize("code", ["INVALID_API_KEYS", "NOT_CONFIGURED"])
def test_configuration_error_is_the_operators_the_item_stays_healthy(
    item, fake_plaid, monkeypatch, caplog, code
):
    store.item_refresh_balances(item=item)
    item.refresh_from_db()
    before = (item.status, item.error_code, item.error_message, item.error_at, item.updated_at)
    assert item.status == PlaidItem.Status.HEALTHY
    pending.item_pending_mark(item_id=item.pk)
    fake_plaid.fail_next(code)
    monkeypatch.setattr(
        tasks.refresh_item_balances, "apply_async", lambda **kw: pytest.fail("must not retry")
    )
    with caplog.at_level("ERROR"):
        result = tasks.refresh_item_balances.run(item.pk)
    item.refresh_from_db()
    assert (
        item.status,
        item.error_code,
        item.error_message,
        item.error_at,
        item.updated_at,
    ) == before
    assert result == f"failed: {code} (the operator's Plaid keys)"
    assert not item.is_refresh_pending  # it may be queued again once the keys are fixed
    (record,) = [r for r in caplog.records if getattr(r, "operator_error", False)]
    assert record.levelname == "ERROR"
    assert record.plaid_error_code == code
    assert "PLAID_CLIENT_ID" in record.getMessage()
