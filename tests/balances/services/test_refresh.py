"""`refresh.item_refresh_run`: one Item's refresh within its lock and Plaid's rate limits,
the call log, retries, the pending mark's end; `item_refresh_in_process` (`--sync`)."""

import time
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import DatabaseError, OperationalError
from django.utils import timezone

from balances.models import (
    Account,
    BalanceBudgetMonth,
    BalanceSnapshot,
    NetWorthDay,
    PlaidCall,
    PlaidItem,
)
from balances.plaid import client as plaid_client
from balances.plaid.errors import PlaidError
from balances.services import pending, refresh, store
from balances.services.refresh import Outcome
from balances.shared_state import api as shared_state
from tests.factories import PlaidItemFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def no_kept_replies():
    """Each test starts and ends with no Plaid reply kept for a retry in this process."""
    refresh._kept.clear()
    yield
    refresh._kept.clear()


REDIS_DOWN = "redis://127.0.0.1:1/0"  # nothing listens there


def is_pending(item: PlaidItem) -> bool:
    item.refresh_from_db()
    return item.is_refresh_pending


def test_run_stores_balances_logs_the_call_and_ends_pending(item, fake_plaid):
    assert pending.item_pending_mark(item_id=item.pk)
    run = refresh.item_refresh_run(item_id=item.pk)
    assert (str(run), run.retry_in) == ("ok: 5 accounts", None)
    assert (run.outcome, run.detail) == (Outcome.OK, "5 accounts")
    call = PlaidCall.objects.get(item=item)
    expected_request_id = fake_plaid.replies[item.access_token]["request_id"]
    assert (call.endpoint, call.error_code, call.request_id) == (
        "/accounts/balance/get",
        "",
        expected_request_id,
    )
    assert item.access_token not in str(list(PlaidCall.objects.values()))
    assert not is_pending(item)
    assert pending.item_pending_mark(item_id=item.pk)  # no longer pending
    assert shared_state.item_lock_remaining(item.pk) == 0  # lock released


def test_cached_source_uses_accounts_get(item, fake_plaid):
    run = refresh.item_refresh_run(item_id=item.pk, realtime=False)
    assert str(run) == "ok: 5 accounts"
    assert [c[0] for c in fake_plaid.calls] == ["/accounts/get"]
    assert PlaidCall.objects.get(item=item).endpoint == "/accounts/get"


def test_locked_item_waits_for_the_lock_without_calling_plaid(item, fake_plaid, settings):
    settings.BALANCE_REFRESH_LOCK_TTL = 40
    assert pending.item_pending_mark(item_id=item.pk)
    assert shared_state.item_lock_acquire(item.pk)
    run = refresh.item_refresh_run(item_id=item.pk, attempt=2)
    assert str(run) == "retry: locked"
    assert refresh.LOCK_POLL_SECONDS / 2 <= run.retry_in <= refresh.LOCK_POLL_SECONDS
    assert run.attempt == 2  # waiting is not a failure
    assert fake_plaid.calls == []
    assert is_pending(item)  # its retry is coming


def test_rate_limit_is_respected_before_plaid_has_to(item, fake_plaid, settings):
    settings.PLAID_BALANCE_GET_PER_ITEM_PER_MINUTE = 1
    assert str(refresh.item_refresh_run(item_id=item.pk)) == "ok: 5 accounts"
    run = refresh.item_refresh_run(item_id=item.pk)
    assert str(run) == "retry: throttled"
    assert 50 < run.retry_in <= shared_state.PLAID_WINDOW_SECONDS
    assert len(fake_plaid.calls) == 1


@pytest.fixture
def sleeps(monkeypatch):
    """The seconds each in-thread wait for the rate limit slept (really: the limit frees)."""
    slept: list[float] = []

    def sleep(seconds):
        slept.append(seconds)
        time.sleep(seconds)

    monkeypatch.setattr(refresh, "_sleep", sleep)
    return slept


def test_a_short_rate_limit_wait_is_slept_in_the_thread(item, fake_plaid, settings, sleeps):
    # A 0.3 s window: the second call may go 0.3 s after the first (no re-queue).
    settings.PLAID_BALANCE_GET_PER_CLIENT_PER_MINUTE = 1
    other = PlaidItemFactory(owner=item.owner)
    fake_plaid.add_item(other.access_token)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(shared_state, "PLAID_WINDOW_SECONDS", 0.3)
        assert str(refresh.item_refresh_run(item_id=other.pk)) == "ok: 5 accounts"
        assert str(refresh.item_refresh_run(item_id=item.pk)) == "ok: 5 accounts"
    assert len(sleeps) >= 1 and 0 < sum(sleeps) <= 0.3 + 0.1
    assert len(fake_plaid.calls) == 2


def test_in_thread_waits_stop_at_their_cap_and_the_task_is_queued_again(
    item, fake_plaid, settings, monkeypatch
):
    # Sleeps that free nothing: the limit refuses on, and the waits stop at the cap.
    settings.PLAID_BALANCE_GET_PER_CLIENT_PER_MINUTE = 1
    slept: list[float] = []
    monkeypatch.setattr(refresh, "_sleep", slept.append)
    monkeypatch.setattr(shared_state, "PLAID_WINDOW_SECONDS", 2.0)
    other = PlaidItemFactory(owner=item.owner)
    fake_plaid.add_item(other.access_token)
    assert str(refresh.item_refresh_run(item_id=other.pk)) == "ok: 5 accounts"
    assert pending.item_pending_mark(item_id=item.pk)
    run = refresh.item_refresh_run(item_id=item.pk)
    assert str(run) == "retry: throttled"
    # Slept while the waits fit in the cap; queued again with the one that did not fit.
    cap = refresh._rate_wait_cap()
    assert cap == refresh.RATE_WAIT_IN_THREAD_SECONDS  # (the defaults' lock leaves room)
    assert slept and sum(slept) <= cap < sum(slept) + run.retry_in
    assert len(fake_plaid.calls) == 1
    assert is_pending(item)  # its retry is coming
    assert shared_state.item_lock_remaining(item.pk) == 0  # not held past the run


def test_a_short_lock_shortens_the_in_thread_wait(item, fake_plaid, settings, monkeypatch):
    # The lock must outlast the sleep, the Plaid call and the store: 2 s of slack, 1 s sleep.
    settings.PLAID_TIMEOUT = (1.0, 2.0)
    settings.BALANCE_REFRESH_LOCK_TTL = 5
    assert refresh._rate_wait_cap() == 1.0
    settings.BALANCE_REFRESH_LOCK_TTL = 3  # no slack: never sleeps with the lock
    assert refresh._rate_wait_cap() == 0.0
    slept: list[float] = []
    monkeypatch.setattr(refresh, "_sleep", slept.append)
    monkeypatch.setattr(shared_state, "PLAID_WINDOW_SECONDS", 0.5)
    settings.PLAID_BALANCE_GET_PER_CLIENT_PER_MINUTE = 1
    other = PlaidItemFactory(owner=item.owner)
    fake_plaid.add_item(other.access_token)
    assert str(refresh.item_refresh_run(item_id=other.pk)) == "ok: 5 accounts"
    assert str(refresh.item_refresh_run(item_id=item.pk)) == "retry: throttled"
    assert slept == []


def test_a_long_rate_limit_wait_is_not_slept(item, fake_plaid, settings, sleeps):
    settings.PLAID_BALANCE_GET_PER_ITEM_PER_MINUTE = 1  # the next call in about 60 s
    assert str(refresh.item_refresh_run(item_id=item.pk)) == "ok: 5 accounts"
    assert str(refresh.item_refresh_run(item_id=item.pk)) == "retry: throttled"
    assert sleeps == []


def test_real_time_refresh_records_when_a_cached_one_does_not(item, fake_plaid):
    assert str(refresh.item_refresh_run(item_id=item.pk, realtime=False)) == "ok: 5 accounts"
    item.refresh_from_db()
    assert item.last_refreshed_at is not None and item.last_realtime_at is None
    assert str(refresh.item_refresh_run(item_id=item.pk)) == "ok: 5 accounts"
    item.refresh_from_db()
    assert item.last_realtime_at == item.last_refreshed_at


def test_spent_budget_makes_real_time_refreshes_cached_but_refresh_now(item, fake_plaid, settings):
    settings.PLAID_BALANCE_MONTHLY_BUDGET = 1
    settings.PLAID_BALANCE_REFRESH_NOW_DAILY_CAP = 1
    settings.PLAID_BALANCE_GET_PER_ITEM_PER_MINUTE = 100
    settings.PLAID_ACCOUNTS_GET_PER_ITEM_PER_MINUTE = 100
    for _ in range(2):
        assert str(refresh.item_refresh_run(item_id=item.pk)) == "ok: 5 accounts"
    # "Refresh now" stays real time within its daily cap (1 billed call today so far: the
    # user's first call was the budget's), then is cached too.
    settings.PLAID_BALANCE_REFRESH_NOW_DAILY_CAP = 2
    assert str(refresh.item_refresh_run(item_id=item.pk, on_demand=True)) == "ok: 5 accounts"
    assert str(refresh.item_refresh_run(item_id=item.pk, on_demand=True)) == "ok: 5 accounts"
    assert [c[0] for c in fake_plaid.calls] == [
        "/accounts/balance/get",
        "/accounts/get",
        "/accounts/balance/get",
        "/accounts/get",
    ]


def test_throttled_real_time_call_gives_its_budget_back(item, fake_plaid, settings):
    settings.PLAID_BALANCE_MONTHLY_BUDGET = 2
    settings.PLAID_BALANCE_GET_PER_ITEM_PER_MINUTE = 1
    assert str(refresh.item_refresh_run(item_id=item.pk)) == "ok: 5 accounts"
    assert str(refresh.item_refresh_run(item_id=item.pk)) == "retry: throttled"
    assert BalanceBudgetMonth.objects.get().reserved == 1  # the refused call is not counted


def test_transient_errors_retry_then_mark_the_item_with_the_reason(item, fake_plaid, settings):
    settings.BALANCE_REFRESH_MAX_RETRIES = 2
    settings.BALANCE_RETRY_BASE_SECONDS = 10
    store.item_refresh_balances(item=item)
    item.refresh_from_db()
    good_at = item.last_refreshed_at
    assert pending.item_pending_mark(item_id=item.pk)
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
        assert item.is_refresh_pending  # its retry is coming
    assert 5 <= delays[0] <= 10 and 10 <= delays[1] <= 20  # exponential, jittered
    run = refresh.item_refresh_run(item_id=item.pk, attempt=attempt)
    assert (str(run), run.retry_in) == ("failed: TIMEOUT", None)
    item.refresh_from_db()
    assert (item.status, item.error_code) == (PlaidItem.Status.ERROR, "TIMEOUT")
    assert "gave up after 2 retries" in item.error_message
    assert item.last_refreshed_at == good_at  # last good balances and their time stay
    assert not item.is_refresh_pending
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
    assert (str(run), run.retry_in) == (f"failed: {code}", None)
    item.refresh_from_db()
    assert (item.status, item.error_code) == (status, code)


def test_out_of_range_keeps_old_balances_and_records_their_age(item, fake_plaid):
    store.item_refresh_balances(item=item)
    Account.objects.filter(item=item).update(
        balances_updated_at=timezone.now() - timedelta(hours=30)
    )
    assert pending.item_pending_mark(item_id=item.pk)
    fake_plaid.fail_next("LAST_UPDATED_DATETIME_OUT_OF_RANGE")
    run = refresh.item_refresh_run(item_id=item.pk)
    assert str(run) == "failed: LAST_UPDATED_DATETIME_OUT_OF_RANGE"
    item.refresh_from_db()
    assert item.status == PlaidItem.Status.HEALTHY  # the connection itself works
    assert item.error_code == "LAST_UPDATED_DATETIME_OUT_OF_RANGE"
    assert "(30 h old)" in item.error_message
    assert not item.is_refresh_pending
    assert BalanceSnapshot.objects.filter(account__item=item).count() == 5
    assert Account.objects.get(item=item, mask="0000").current == Decimal("110")


def test_each_outcome_releases_the_lock_and_logs_the_call(fake_plaid, monkeypatch):
    ok, down, gone = (PlaidItemFactory() for _ in range(3))
    for item in (ok, down, gone):
        fake_plaid.add_item(item.access_token)
        assert pending.item_pending_mark(item_id=item.pk)
    failing = {
        down.access_token: ("INSTITUTION_DOWN", True),
        gone.access_token: ("ITEM_LOGIN_REQUIRED", False),
    }
    real = fake_plaid.accounts_balance_get

    def answer(access_token, **kwargs):
        if access_token in failing:
            code, retryable = failing[access_token]
            raise PlaidError(
                code=code, message=code, http_status=400, request_id="r", retryable=retryable
            )
        return real(access_token, **kwargs)

    monkeypatch.setattr(plaid_client, "accounts_balance_get", answer)
    runs = {item.pk: refresh.item_refresh_run(item_id=item.pk) for item in (ok, down, gone)}
    assert str(runs[ok.pk]) == "ok: 5 accounts"
    assert str(runs[down.pk]) == "retry: INSTITUTION_DOWN"
    assert runs[down.pk].retry_in and runs[down.pk].attempt == 1
    assert str(runs[gone.pk]) == "failed: ITEM_LOGIN_REQUIRED"
    gone.refresh_from_db()
    assert gone.status == PlaidItem.Status.LOGIN_REQUIRED
    assert not Account.objects.filter(item__in=[down, gone]).exists()
    for item in (ok, down, gone):
        assert shared_state.item_lock_remaining(item.pk) == 0
    assert [is_pending(item) for item in (ok, down, gone)] == [False, True, False]
    assert set(PlaidCall.objects.values_list("item_id", "error_code")) == {
        (ok.pk, ""),
        (down.pk, "INSTITUTION_DOWN"),
        (gone.pk, "ITEM_LOGIN_REQUIRED"),
    }


def test_inactive_item_is_skipped_and_leaves_no_pending_state(fake_plaid):
    item = PlaidItemFactory(
        status=PlaidItem.Status.LOGIN_REQUIRED, refresh_requested_at=timezone.now()
    )
    assert not pending.item_pending_mark(item_id=item.pk)  # an inactive Item is never marked
    assert str(refresh.item_refresh_run(item_id=item.pk)) == "skipped"
    item.refresh_from_db()
    assert item.refresh_requested_at is None
    # Repaired, it can be queued at once: nothing of the skipped run is left pending.
    PlaidItem.objects.filter(pk=item.pk).update(status=PlaidItem.Status.HEALTHY)
    assert pending.item_pending_mark(item_id=item.pk)
    assert fake_plaid.calls == []


def test_redis_down_in_a_worker_retries_later(item, fake_plaid, settings):
    assert pending.item_pending_mark(item_id=item.pk)
    settings.THROTTLE_REDIS_URL = REDIS_DOWN
    run = refresh.item_refresh_run(item_id=item.pk)
    assert str(run) == "retry: THROTTLE_UNAVAILABLE"
    assert run.retry_in > 0 and run.attempt == 1
    assert fake_plaid.calls == []  # never calls Plaid without its limits
    assert is_pending(item)  # its retry is coming


def test_redis_down_for_every_retry_gives_up_and_ends_pending(item, fake_plaid, settings):
    settings.BALANCE_REFRESH_MAX_RETRIES = 2
    assert pending.item_pending_mark(item_id=item.pk)
    settings.THROTTLE_REDIS_URL = REDIS_DOWN
    run = refresh.item_refresh_run(item_id=item.pk, attempt=2)
    assert (str(run), run.retry_in) == ("failed: THROTTLE_UNAVAILABLE", None)
    assert fake_plaid.calls == []
    assert not is_pending(item)
    assert pending.item_pending_mark(item_id=item.pk)  # the next request is not refused


def test_backoff_grows_and_is_capped(settings):
    settings.BALANCE_RETRY_BASE_SECONDS, settings.BALANCE_RETRY_CAP_SECONDS = 30, 1800
    assert 15 <= refresh.retry_delay(0) <= 30
    assert 60 <= refresh.retry_delay(2) <= 120
    assert 900 <= refresh.retry_delay(30) <= 1800


# --- The store failing after Plaid answered ---------------------------------------------


def test_the_database_giving_up_on_the_store_retries_later_and_keeps_pending(
    item, fake_plaid, monkeypatch, settings
):
    settings.BALANCE_RETRY_BASE_SECONDS = 10
    real_store = store.item_store_balances

    def deadlock(**kwargs):
        raise OperationalError("deadlock detected")

    monkeypatch.setattr(store, "item_store_balances", deadlock)
    assert pending.item_pending_mark(item_id=item.pk)
    run = refresh.item_refresh_run(item_id=item.pk)
    assert str(run) == "retry: DATABASE"
    assert 5 <= run.retry_in <= 10 and run.attempt == 1  # backoff, as after a Plaid error
    assert shared_state.item_lock_remaining(item.pk) == 0
    assert is_pending(item)  # still pending: its retry is coming
    assert not pending.item_pending_mark(item_id=item.pk)
    # The call happened (and is billed) even though nothing of its reply was stored.
    assert list(PlaidCall.objects.filter(item=item).values_list("error_code", flat=True)) == [""]
    assert not Account.objects.filter(item=item).exists()
    assert run.fetched_at is not None  # the retry stores the reply kept from that call
    # The retry stores the reply without calling Plaid again, and logs its call once.
    monkeypatch.setattr(store, "item_store_balances", real_store)
    retry = refresh.item_refresh_run(
        item_id=item.pk, attempt=run.attempt, fetched_at=run.fetched_at
    )
    assert str(retry) == "ok: 5 accounts"
    assert len(fake_plaid.calls) == 1
    assert PlaidCall.objects.filter(item=item).count() == 1
    assert not is_pending(item)


def deadlock_once(monkeypatch):
    real_store = store.item_store_balances

    def deadlock(**kwargs):
        monkeypatch.setattr(store, "item_store_balances", real_store)
        raise OperationalError("deadlock detected")

    monkeypatch.setattr(store, "item_store_balances", deadlock)


def test_a_retry_in_another_process_calls_plaid_again(item, fake_plaid, monkeypatch):
    """The documented cost: the reply is kept in the worker's memory only."""
    deadlock_once(monkeypatch)
    assert pending.item_pending_mark(item_id=item.pk)
    run = refresh.item_refresh_run(item_id=item.pk)
    assert str(run) == "retry: DATABASE"
    refresh._kept.clear()  # the retry runs in another worker process
    retry = refresh.item_refresh_run(
        item_id=item.pk, attempt=run.attempt, fetched_at=run.fetched_at
    )
    assert str(retry) == "ok: 5 accounts"
    assert len(fake_plaid.calls) == 2
    assert not is_pending(item)


def test_a_kept_reply_older_than_a_stored_refresh_is_not_stored(item, fake_plaid, monkeypatch):
    deadlock_once(monkeypatch)
    assert pending.item_pending_mark(item_id=item.pk)
    run = refresh.item_refresh_run(item_id=item.pk)
    assert str(run) == "retry: DATABASE"
    # Meanwhile another refresh stored newer balances (e.g. `refresh_balances --sync`).
    fake_plaid.replies[item.access_token]["accounts"][0]["balances"]["current"] = 125.5
    store.item_refresh_balances(item=item)
    retry = refresh.item_refresh_run(
        item_id=item.pk, attempt=run.attempt, fetched_at=run.fetched_at
    )
    assert str(retry) == "skipped: already stored"
    assert Account.objects.get(item=item, mask="0000").current == Decimal("125.5")
    assert len(fake_plaid.calls) == 2
    assert not is_pending(item)


def test_the_database_giving_up_on_every_retry_ends_pending(
    item, fake_plaid, monkeypatch, settings
):
    settings.BALANCE_REFRESH_MAX_RETRIES = 2

    def deadlock(**kwargs):
        raise OperationalError("deadlock detected")

    monkeypatch.setattr(store, "item_store_balances", deadlock)
    assert pending.item_pending_mark(item_id=item.pk)
    with pytest.raises(OperationalError):
        refresh.item_refresh_run(item_id=item.pk, attempt=2)
    assert shared_state.item_lock_remaining(item.pk) == 0
    assert not is_pending(item)  # gave up: the next request is not refused
    assert PlaidCall.objects.filter(item=item).count() == 1


def test_a_failed_store_releases_the_lock_and_logs_the_call(item, fake_plaid, monkeypatch):
    def broken(**kwargs):
        raise DatabaseError("disk full")

    monkeypatch.setattr(store, "item_store_balances", broken)
    assert pending.item_pending_mark(item_id=item.pk)
    with pytest.raises(DatabaseError):
        refresh.item_refresh_run(item_id=item.pk)
    assert shared_state.item_lock_remaining(item.pk) == 0
    assert PlaidCall.objects.filter(item=item).count() == 1  # the call happened
    assert not Account.objects.filter(item=item).exists()
    assert not is_pending(item)  # failed: the next request is not refused


def test_refreshes_of_items_of_several_users_each_add_to_their_owners_totals(fake_plaid):
    a, b = PlaidItemFactory(), PlaidItemFactory()
    assert a.owner_id != b.owner_id
    for item in (a, b):
        fake_plaid.add_item(item.access_token)
        assert str(refresh.item_refresh_run(item_id=item.pk)) == "ok: 5 accounts"
    for owner in (a.owner, b.owner):
        (row,) = NetWorthDay.objects.filter(user=owner)
        assert row.assets - row.liabilities == Decimal("44110")


# --- A task delivered again after its worker died (acks_late) ---------------------------


def test_redelivered_task_already_done_is_skipped(item, fake_plaid):
    item.refresh_requested_at = timezone.now()
    item.save(update_fields=["refresh_requested_at"])
    store.item_refresh_balances(item=item)  # the dead worker stored it, never acked
    calls = len(fake_plaid.calls)
    run = refresh.item_refresh_run(item_id=item.pk, redelivered=True)
    assert str(run) == "skipped: already refreshed"
    assert len(fake_plaid.calls) == calls
    # A request made after that refresh is honoured, redelivered or not.
    item.refresh_requested_at = timezone.now()
    item.save(update_fields=["refresh_requested_at"])
    assert refresh.item_refresh_run(item_id=item.pk, redelivered=True).outcome == Outcome.OK
    assert len(fake_plaid.calls) == calls + 1


def test_redelivered_task_never_stored_is_refreshed(fake_plaid):
    item = PlaidItemFactory(refresh_requested_at=timezone.now())  # the worker died first
    fake_plaid.add_item(item.access_token)
    run = refresh.item_refresh_run(item_id=item.pk, redelivered=True)
    assert str(run) == "ok: 5 accounts"
    assert len(fake_plaid.calls) == 1
    assert not is_pending(item)


# --- `refresh_balances --sync`: `item_refresh_in_process` -------------------------------


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


def test_sync_refresh_takes_from_the_budget_then_uses_cached_balances(item, fake_plaid, settings):
    settings.PLAID_BALANCE_MONTHLY_BUDGET = 1
    refresh.item_refresh_in_process(item=item)
    refresh.item_refresh_in_process(item=item)
    assert [c[0] for c in fake_plaid.calls] == ["/accounts/balance/get", "/accounts/get"]
    settings.PLAID_BALANCE_MONTHLY_BUDGET = 3
    settings.PLAID_BALANCE_GET_PER_ITEM_PER_MINUTE = 1
    with pytest.raises(refresh.ItemBusy):
        refresh.item_refresh_in_process(item=item)
    assert BalanceBudgetMonth.objects.get().reserved == 1  # the refused call given back
