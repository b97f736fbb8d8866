"""Refresh runs, one Item or a batch: lock, throttles, retries, the call log, and queueing
with de-duplication."""

import dataclasses
import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import DatabaseError, OperationalError, connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from balances import tasks
from balances.models import Account, BalanceSnapshot, NetWorthDay, PlaidCall, PlaidItem
from balances.plaid import client as plaid_client
from balances.plaid.errors import PlaidError
from balances.services import queueing, refresh, store
from balances.shared_state import api as shared_state
from tests.factories import PlaidItemFactory, UserFactory

pytestmark = pytest.mark.django_db


def text(response) -> str:
    return re.sub(r"\s+", " ", response.content.decode())


def test_run_stores_balances_logs_the_call_and_ends_pending(item, fake_plaid):
    assert shared_state.pending_mark(item.pk)
    run = refresh.item_refresh_run(item_id=item.pk)
    assert (run.outcome, run.retry_in) == ("ok: 5 accounts", None)
    call = PlaidCall.objects.get(item=item)
    expected_request_id = fake_plaid.replies[item.access_token]["request_id"]
    assert (call.endpoint, call.error_code, call.request_id) == (
        "/accounts/balance/get",
        "",
        expected_request_id,
    )
    assert item.access_token not in str(list(PlaidCall.objects.values()))
    assert shared_state.pending_mark(item.pk)  # no longer pending
    assert shared_state.item_lock_remaining(item.pk) == 0  # lock released


def test_cached_source_uses_accounts_get(item, fake_plaid):
    run = refresh.item_refresh_run(item_id=item.pk, realtime=False)
    assert run.outcome == "ok: 5 accounts"
    assert [c[0] for c in fake_plaid.calls] == ["/accounts/get"]
    assert PlaidCall.objects.get(item=item).endpoint == "/accounts/get"


def test_locked_item_waits_for_the_lock_without_calling_plaid(item, fake_plaid, settings):
    settings.BALANCE_REFRESH_LOCK_TTL = 40
    assert shared_state.item_lock_acquire(item.pk)
    run = refresh.item_refresh_run(item_id=item.pk, attempt=2)
    assert run.outcome == "retry: locked"
    assert refresh.LOCK_POLL_SECONDS / 2 <= run.retry_in <= refresh.LOCK_POLL_SECONDS
    assert run.attempt == 2  # waiting is not a failure
    assert fake_plaid.calls == []


def test_rate_limit_is_respected_before_plaid_has_to(item, fake_plaid, settings):
    settings.PLAID_BALANCE_GET_PER_ITEM_PER_MINUTE = 1
    assert refresh.item_refresh_run(item_id=item.pk).outcome == "ok: 5 accounts"
    run = refresh.item_refresh_run(item_id=item.pk)
    assert run.outcome == "retry: throttled"
    assert 50 < run.retry_in <= 60
    assert len(fake_plaid.calls) == 1


def test_transient_errors_retry_then_mark_the_item_with_the_reason(item, fake_plaid, settings):
    settings.BALANCE_REFRESH_MAX_RETRIES = 2
    settings.BALANCE_RETRY_BASE_SECONDS = 10
    store.item_refresh_balances(item=item)
    item.refresh_from_db()
    good_at = item.last_refreshed_at
    for code in ("RATE_LIMIT_EXCEEDED", "INTERNAL_SERVER_ERROR", "TIMEOUT"):
        fake_plaid.fail_next(code, retryable=True, status=429)
    delays = []
    attempt = 0
    for _ in range(2):
        run = refresh.item_refresh_run(item_id=item.pk, attempt=attempt)
        assert run.retry_in is not None
        delays.append(run.retry_in)
        attempt = run.attempt
        item.refresh_from_db()
        assert item.status == PlaidItem.Status.HEALTHY  # not erroring while retrying
    assert 5 <= delays[0] <= 10 and 10 <= delays[1] <= 20  # exponential, jittered
    run = refresh.item_refresh_run(item_id=item.pk, attempt=attempt)
    assert (run.outcome, run.retry_in) == ("failed: TIMEOUT", None)
    item.refresh_from_db()
    assert (item.status, item.error_code) == (PlaidItem.Status.ERROR, "TIMEOUT")
    assert "gave up after 2 retries" in item.error_message
    assert item.last_refreshed_at == good_at  # last good balances and their time stay
    assert Account.objects.get(item=item, mask="0000").current == Decimal("110")
    assert list(
        PlaidCall.objects.filter(item=item).order_by("pk").values_list("error_code", flat=True)
    ) == ["", "RATE_LIMIT_EXCEEDED", "INTERNAL_SERVER_ERROR", "TIMEOUT"]


@pytest.mark.parametrize(
    ("code", "status"),
    [
        ("ITEM_LOGIN_REQUIRED", PlaidItem.Status.LOGIN_REQUIRED),
        ("INVALID_ACCESS_TOKEN", PlaidItem.Status.REVOKED),
        ("ITEM_NOT_FOUND", PlaidItem.Status.REVOKED),
        ("NO_ACCOUNTS", PlaidItem.Status.ERROR),
    ],
)
def test_permanent_errors_never_retry_and_set_the_status_at_once(item, fake_plaid, code, status):
    fake_plaid.fail_next(code)
    run = refresh.item_refresh_run(item_id=item.pk)
    assert (run.outcome, run.retry_in) == (f"failed: {code}", None)
    item.refresh_from_db()
    assert (item.status, item.error_code) == (status, code)


def test_out_of_range_keeps_old_balances_and_records_their_age(item, fake_plaid):
    store.item_refresh_balances(item=item)
    Account.objects.filter(item=item).update(
        balances_updated_at=timezone.now() - timedelta(hours=30)
    )
    fake_plaid.fail_next("LAST_UPDATED_DATETIME_OUT_OF_RANGE")
    run = refresh.item_refresh_run(item_id=item.pk)
    assert run.outcome == "failed: LAST_UPDATED_DATETIME_OUT_OF_RANGE"
    item.refresh_from_db()
    assert item.status == PlaidItem.Status.HEALTHY  # the connection itself works
    assert item.error_code == "LAST_UPDATED_DATETIME_OUT_OF_RANGE"
    assert "(30 h old)" in item.error_message
    assert BalanceSnapshot.objects.filter(account__item=item).count() == 5
    assert Account.objects.get(item=item, mask="0000").current == Decimal("110")


def test_inactive_item_is_skipped_and_leaves_no_pending_state(fake_plaid):
    item = PlaidItemFactory(
        status=PlaidItem.Status.LOGIN_REQUIRED, refresh_requested_at=timezone.now()
    )
    shared_state.pending_mark(item.pk)
    assert refresh.item_refresh_run(item_id=item.pk).outcome == "skipped"
    item.refresh_from_db()
    assert item.refresh_requested_at is None
    assert shared_state.pending_mark(item.pk)
    assert fake_plaid.calls == []


def test_redis_down_in_a_worker_retries_later(item, fake_plaid, settings):
    settings.THROTTLE_REDIS_URL = "redis://127.0.0.1:1/0"
    run = refresh.item_refresh_run(item_id=item.pk)
    assert run.outcome == "retry: THROTTLE_UNAVAILABLE"
    assert run.retry_in > 0 and run.attempt == 1
    assert fake_plaid.calls == []  # never calls Plaid without its limits


# --- Queueing ---------------------------------------------------------------------------


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


def test_task_ends_pending_so_the_next_refresh_can_be_queued(
    item, fake_plaid, queued, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        queueing.item_queue_refresh(item=item)
    assert tasks.refresh_item_balances.apply(args=[item.pk]).get() == "ok: 5 accounts"
    item.refresh_from_db()
    assert item.last_refreshed_at >= item.refresh_requested_at
    with django_capture_on_commit_callbacks(execute=True):
        assert queueing.item_queue_refresh(item=item)


@pytest.mark.django_db(transaction=True)
def test_failed_publish_leaves_nothing_pending(item, monkeypatch):
    from kombu.exceptions import OperationalError

    def down(*args, **kwargs):
        raise OperationalError("broker down")

    monkeypatch.setattr(tasks.refresh_item_balances, "delay", down)
    with pytest.raises(OperationalError):
        queueing.item_queue_refresh(item=item)
    item.refresh_from_db()
    assert item.refresh_requested_at is None
    assert shared_state.pending_mark(item.pk)


# --- "Refresh now" ----------------------------------------------------------------------


def test_refresh_now_is_throttled_per_item_and_says_when(
    client, queued, settings, django_capture_on_commit_callbacks
):
    settings.BALANCE_REFRESH_NOW_INTERVAL = 600
    user = UserFactory()
    item = PlaidItemFactory(owner=user, institution_name="Chase")
    client.force_login(user)
    with django_capture_on_commit_callbacks(execute=True):
        first = client.post(reverse("refresh"), follow=True)
    assert "Refreshing 1 connection." in text(first)
    assert queued == [(item.pk, {"realtime": True})]
    # The task ran and finished: not pending any more, but refreshed on demand just now.
    shared_state.pending_clear(item.pk)
    with django_capture_on_commit_callbacks(execute=True):
        second = client.post(reverse("refresh"), follow=True)
    assert len(queued) == 1
    page = text(second)
    next_at = timezone.localtime(timezone.now() + timedelta(seconds=600))
    assert "Chase was refreshed moments ago. The next refresh can run at" in page
    assert re.search(r"at \d\d:\d\d \(in (9|10) minutes\)", page)
    assert (
        next_at.strftime("%H:%M") in page
        or (next_at - timedelta(minutes=1)).strftime("%H:%M") in page
    )


def test_refresh_now_of_a_refresh_already_running_is_not_queued_again(
    client, queued, django_capture_on_commit_callbacks
):
    user = UserFactory()
    item = PlaidItemFactory(owner=user, institution_name="Chase")
    shared_state.pending_mark(item.pk)  # e.g. beat queued it a moment ago
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


def test_fan_out_skips_items_already_pending(queued_refreshes, django_capture_on_commit_callbacks):
    a, b = PlaidItemFactory(), PlaidItemFactory()
    shared_state.pending_mark(a.pk)
    with django_capture_on_commit_callbacks(execute=True):
        assert tasks.refresh_all_items() == 1
    assert queued_refreshes.item_ids == [b.pk]


# --- `refresh_balances --sync` ----------------------------------------------------------


def test_sync_command_refreshes_within_the_lock_and_limits(item, fake_plaid, settings):
    from io import StringIO

    from django.core.management import CommandError, call_command

    out, err = StringIO(), StringIO()
    call_command("refresh_balances", "--sync", stdout=out, stderr=err)
    assert "5 accounts" in out.getvalue()
    assert shared_state.item_lock_remaining(item.pk) == 0  # released

    token = shared_state.item_lock_acquire(item.pk)  # a worker is refreshing it right now
    with pytest.raises(CommandError, match="1 Item"):
        call_command("refresh_balances", "--sync", stdout=out, stderr=err)
    assert "a refresh of this Item is already running" in err.getvalue()
    shared_state.item_lock_release(item.pk, token)

    settings.PLAID_BALANCE_GET_PER_ITEM_PER_MINUTE = 1
    with pytest.raises(CommandError):
        call_command("refresh_balances", "--sync", stdout=out, stderr=err)
    assert "rate limit" in err.getvalue()
    assert len(fake_plaid.calls) == 1


# --- A task delivered again after its worker died (acks_late) ---------------------------


def test_redelivered_task_already_done_is_skipped(item, fake_plaid):
    item.refresh_requested_at = timezone.now()
    item.save(update_fields=["refresh_requested_at"])
    store.item_refresh_balances(item=item)  # the dead worker stored it, never acked
    calls = len(fake_plaid.calls)
    run = refresh.item_refresh_run(item_id=item.pk, redelivered=True)
    assert run.outcome == "skipped: already refreshed"
    assert len(fake_plaid.calls) == calls
    # A request made after that refresh is honoured, redelivered or not.
    item.refresh_requested_at = timezone.now()
    item.save(update_fields=["refresh_requested_at"])
    assert refresh.item_refresh_run(item_id=item.pk, redelivered=True).outcome.startswith("ok")
    assert len(fake_plaid.calls) == calls + 1


# --- Batches from beat's fan-out --------------------------------------------------------


def batch_items(fake_plaid, n: int, **fields) -> list[PlaidItem]:
    items = [PlaidItemFactory(**fields) for _ in range(n)]
    for item in items:
        fake_plaid.add_item(item.access_token)
    return items


def failing_for(fake_plaid, monkeypatch, token: str, code: str, *, retryable: bool) -> None:
    """Make Plaid answer `code` for one access token only."""
    real = fake_plaid.accounts_balance_get

    def answer(access_token, **kwargs):
        if access_token == token:
            raise PlaidError(
                code=code, message=code, http_status=500, request_id="r", retryable=retryable
            )
        return real(access_token, **kwargs)

    monkeypatch.setattr(plaid_client, "accounts_balance_get", answer)


def test_a_batch_stores_every_reply_in_the_same_statements(fake_plaid, django_assert_num_queries):
    counts = []
    owner = UserFactory()
    for n in (1, 2, 6):  # the first batch also starts the owner's day of totals
        items = batch_items(fake_plaid, n, owner=owner)
        for item in items:
            shared_state.pending_mark(item.pk)
        with CaptureQueriesContext(connection) as queries:
            runs = refresh.items_refresh_run(item_ids=[i.pk for i in items])
        counts.append(len(queries))
        assert [runs[i.pk].outcome for i in items] == ["ok: 5 accounts"] * n
        assert Account.objects.filter(item__in=items).count() == 5 * n
        assert PlaidCall.objects.filter(item__in=items, error_code="").count() == n
        for item in items:
            assert shared_state.pending_mark(item.pk)  # no longer pending
            assert shared_state.item_lock_remaining(item.pk) == 0  # lock released
    assert counts[1] == counts[2]  # a few statements per batch (and owner), none per Item


def test_a_batch_goes_on_past_an_item_that_fails(fake_plaid, monkeypatch):
    ok_a, down, gone, ok_b = batch_items(fake_plaid, 4)
    failing_for(fake_plaid, monkeypatch, down.access_token, "INSTITUTION_DOWN", retryable=True)
    real = plaid_client.accounts_balance_get

    def also_gone(access_token, **kwargs):
        if access_token == gone.access_token:
            raise PlaidError(
                code="ITEM_LOGIN_REQUIRED", message="x", http_status=400, request_id="r2"
            )
        return real(access_token, **kwargs)

    monkeypatch.setattr(plaid_client, "accounts_balance_get", also_gone)
    runs = refresh.items_refresh_run(item_ids=[ok_a.pk, down.pk, gone.pk, ok_b.pk])
    assert runs[ok_a.pk].outcome == runs[ok_b.pk].outcome == "ok: 5 accounts"
    assert runs[down.pk].outcome == "retry: INSTITUTION_DOWN"
    assert runs[down.pk].retry_in and runs[down.pk].attempt == 1
    assert runs[gone.pk].outcome == "failed: ITEM_LOGIN_REQUIRED"
    gone.refresh_from_db()
    assert gone.status == PlaidItem.Status.LOGIN_REQUIRED
    assert not Account.objects.filter(item__in=[down, gone]).exists()
    for item in (ok_a, down, gone, ok_b):
        assert shared_state.item_lock_remaining(item.pk) == 0
    assert set(PlaidCall.objects.values_list("item_id", "error_code")) == {
        (ok_a.pk, ""),
        (down.pk, "INSTITUTION_DOWN"),
        (gone.pk, "ITEM_LOGIN_REQUIRED"),
        (ok_b.pk, ""),
    }


def test_the_batch_task_sends_items_that_must_wait_on_alone(fake_plaid, monkeypatch):
    ok, down = batch_items(fake_plaid, 2)
    failing_for(fake_plaid, monkeypatch, down.access_token, "INSTITUTION_DOWN", retryable=True)
    alone = []
    monkeypatch.setattr(tasks.refresh_item_balances, "apply_async", lambda **kw: alone.append(kw))
    outcome = tasks.refresh_items_balances.apply(args=[[ok.pk, down.pk]]).get()
    assert outcome == "ok 1, retry 1"
    ((retry),) = alone
    assert retry["args"] == (down.pk,)
    assert retry["kwargs"] == {"realtime": True, "attempt": 1}
    assert retry["countdown"] > 0


def test_a_slow_batch_stores_what_it_has_as_it_goes(fake_plaid, monkeypatch, settings):
    items = batch_items(fake_plaid, 3)
    stored: list[int] = []
    real = store.items_store_fetched

    def counting(*, fetched):
        stored.append(len(fetched))
        return real(fetched=fetched)

    monkeypatch.setattr(store, "items_store_fetched", counting)
    settings.BALANCE_REFRESH_STORE_EVERY = 0  # every reply is "old" at the next call
    refresh.items_refresh_run(item_ids=[i.pk for i in items])
    assert stored == [1, 1, 1]
    settings.BALANCE_REFRESH_STORE_EVERY = 60
    stored.clear()
    refresh.items_refresh_run(item_ids=[i.pk for i in items])
    assert stored == [3]
    # Calls as slow as the budget: each reply is stored before the next call starts.
    real_call = plaid_client.accounts_balance_get
    monkeypatch.setattr(
        plaid_client,
        "accounts_balance_get",
        lambda token, **kw: dataclasses.replace(real_call(token, **kw), duration_ms=60_000),
    )
    stored.clear()
    refresh.items_refresh_run(item_ids=[i.pk for i in items])
    assert stored == [1, 1, 1]


def test_a_failed_store_releases_every_lock(fake_plaid, monkeypatch):
    items = batch_items(fake_plaid, 2)

    def broken(**kwargs):
        raise DatabaseError("disk full")

    monkeypatch.setattr(store, "items_store_balances", broken)
    with pytest.raises(DatabaseError):
        refresh.items_refresh_run(item_ids=[i.pk for i in items])
    for item in items:
        assert shared_state.item_lock_remaining(item.pk) == 0
    assert PlaidCall.objects.filter(item__in=items).count() == 2  # the calls happened


def test_a_batch_delivered_again_skips_what_it_stored(fake_plaid):
    done, todo = batch_items(fake_plaid, 2, refresh_requested_at=timezone.now())
    store.item_refresh_balances(item=done)  # stored before the worker died
    calls = len(fake_plaid.calls)
    runs = refresh.items_refresh_run(item_ids=[done.pk, todo.pk], redelivered=True)
    assert runs[done.pk].outcome == "skipped: already refreshed"
    assert runs[todo.pk].outcome == "ok: 5 accounts"
    assert len(fake_plaid.calls) == calls + 1


def test_one_store_for_items_of_several_users(fake_plaid):
    a, b = batch_items(fake_plaid, 2)
    assert a.owner_id != b.owner_id
    refresh.items_refresh_run(item_ids=[a.pk, b.pk])
    for owner in (a.owner, b.owner):
        (row,) = NetWorthDay.objects.filter(user=owner)
        assert row.assets - row.liabilities == Decimal("44110")


class CallClock:
    """Stands in for `refresh.time`: each Plaid call (each `_fetch`) takes the next of
    `durations` seconds."""

    def __init__(self, monkeypatch, durations):
        self.now = 0.0
        self.durations = list(durations)
        fetch = refresh._fetch

        def timed_fetch(*args, **kwargs):
            self.now += self.durations.pop(0)
            return fetch(*args, **kwargs)

        monkeypatch.setattr(refresh, "_fetch", timed_fetch)
        monkeypatch.setattr(refresh, "time", self)

    def monotonic(self):
        return self.now


def test_after_slow_calls_in_a_row_a_batch_sends_the_rest_on_alone(fake_plaid, monkeypatch):
    items = batch_items(fake_plaid, 4)
    CallClock(monkeypatch, [0.3, 0.3])  # two slow calls in a row
    alone = []
    monkeypatch.setattr(tasks.refresh_item_balances, "apply_async", lambda **kw: alone.append(kw))
    assert tasks.refresh_items_balances.apply(args=[[i.pk for i in items]]).get() == (
        "ok 2, retry 2"
    )
    assert [a["args"] for a in alone] == [(i.pk,) for i in items[2:]]
    assert {a["countdown"] for a in alone} == {None}  # at once
    assert len(fake_plaid.calls) == 2  # the others are left to their own tasks
    assert Account.objects.filter(item__in=items[:2]).count() == 10


def test_one_slow_call_alone_keeps_the_batch_together(fake_plaid, monkeypatch):
    items = batch_items(fake_plaid, 4)
    # A call that waited for a CPU now and then is no sign of a slow Plaid.
    CallClock(monkeypatch, [0.3, 0.01, 0.3, 0.01])
    runs = refresh.items_refresh_run(item_ids=[i.pk for i in items])
    assert [runs[i.pk].outcome for i in items] == ["ok: 5 accounts"] * 4
    assert len(fake_plaid.calls) == 4


def test_a_batch_the_database_gave_up_on_is_tried_again_later(fake_plaid, monkeypatch):
    items = batch_items(fake_plaid, 2)

    def deadlock(**kwargs):
        raise OperationalError("deadlock detected")

    monkeypatch.setattr(store, "items_store_balances", deadlock)
    runs = refresh.items_refresh_run(item_ids=[i.pk for i in items])
    for item in items:
        assert runs[item.pk].outcome == "retry: DATABASE"
        assert runs[item.pk].retry_in and runs[item.pk].attempt == 1
        assert shared_state.item_lock_remaining(item.pk) == 0
        assert not shared_state.pending_mark(item.pk)  # still pending: its retry is coming
