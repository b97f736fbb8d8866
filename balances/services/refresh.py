"""Background refreshes of one Item: lock, throttle, call Plaid, store, decide about retrying.

`item_refresh_run` is what the refresh task runs. When the Item is locked by another
refresh, Plaid's rate limit would be exceeded, or a transient error happened, the run says
when to try again and the task queues itself again (acks_late keeps the message until
then, so a worker dying mid-refresh loses nothing). The one sleep: a call the rate limit
lets through within RATE_WAIT_IN_THREAD_SECONDS waits for it in its thread (`_rate_wait`).

Contract of a run, at every point where it can fail (tests/balances/test_tasks.py injects
a fault at each): it stores the balances, or it says when to run again with the
Item still pending, or it ends the Item's pending mark (the Item may be queued again at
once). A database that cannot be reached (OperationalError, InterfaceError: an outage, a
restart, a deadlock) is a transient error like Plaid's: retried with backoff up to
BALANCE_REFRESH_MAX_RETRIES, sharing their count. Ending the mark needs the database
too: when even that fails, the mark is logged and left to expire on its own
(BALANCE_REFRESH_PENDING_TTL). Any other exception ends the mark and goes up.

One billed call per refresh request: a reply Plaid gave is kept (in this process) until it
is stored, and the retry of a failed store stores that reply instead of calling again. The
retry carries the reply's time (`fetched_at`, never the reply or the token), so it can also
tell a store that committed although its caller saw an error (the connection dropping at
the commit) from one that did not: it skips the former. Cost: a retry that runs in another
worker process (or after a restart) finds no kept reply and calls Plaid again, one more
billed call for each Item caught between its call and its store by an outage.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum

from django.conf import settings
from django.db import Error, InterfaceError, OperationalError

from balances.models import PlaidItem
from balances.plaid.errors import PlaidError
from balances.selectors import items
from balances.services import budget, errors, pending, store
from balances.services.alerts import after_refresh as alerts_after_refresh
from balances.services.store import FetchedBalances, RefreshResult
from balances.shared_state import api as shared_state

logger = logging.getLogger(__name__)

# A refresh finding its Item locked looks again after 2.5-5 s (a refresh takes seconds).
LOCK_POLL_SECONDS = 5.0

# A call Plaid's rate limit lets through within this many seconds waits for it in its
# thread instead of queueing its task again. Why: a re-queue costs a whole task run (the
# message's publish, delivery and acknowledgement, the Item's read, the lock, the pending
# mark: milliseconds of worker CPU), and while the client limit binds (a fan-out of
# thousands of Items) every refused task was re-queued: 1,800 of 4,800 runs for 3,000 Items
# in bench/production.py. The waits one worker's threads see then: the line of refused
# callers, one `window / limit` apart (`shared_state.plaid_call_wait`: at most 96 threads
# x 0.05 s), plus up to about 11 s once the window's first minute is full (its first
# calls, started together, have to age out): about 16 s. A wait over the cap is re-queued,
# and then every later one is too: the thread takes the next task, refused further down
# the line, which grows by one spacing per refusal (at 15 s against a 61 s window: 4,796
# task runs). Cost: a sleeping thread serves no other task for at most this long (tasks
# queued behind a fan-out wait for it anyway), and keeps the Item's lock, so less when the
# lock would not outlast the sleep, the Plaid call and the store (`_rate_wait_cap`: the
# defaults allow 30 s); it holds no database connection from a pool. Longer waits (an
# Item's own limit after a burst of requests: up to a minute) are re-queued.
RATE_WAIT_IN_THREAD_SECONDS = 30.0

# The database cannot be reached or gave the statement up (restart, outage, deadlock):
# transient, so retried. psycopg raises InterfaceError on a connection that already broke.
DATABASE_UNAVAILABLE = (OperationalError, InterfaceError)


class Outcome(StrEnum):
    OK = "ok"  # stored
    SKIPPED = "skipped"  # nothing to do (inactive, gone, already refreshed)
    RETRY = "retry"  # to run again after `retry_in` seconds
    FAILED = "failed"  # the error is recorded on the Item


@dataclass(frozen=True, slots=True)
class RefreshRun:
    """How one run of one Item ended; `retry_in` (seconds) set when it must run again.

    `detail` says why (a Plaid error code, "locked", "3 accounts"); `str()` is the task's
    result as Celery shows it ("retry: locked").
    """

    outcome: Outcome
    detail: str = ""
    retry_in: float | None = None
    attempt: int = 0
    # A retry after Plaid answered: when it did (the reply is kept until stored).
    fetched_at: datetime | None = None

    def __str__(self) -> str:
        return f"{self.outcome}: {self.detail}" if self.detail else str(self.outcome)


def retry_delay(attempt: int) -> float:
    """Return the seconds to wait before retry number `attempt` + 1 (full-ish jitter)."""
    base = float(settings.BALANCE_RETRY_BASE_SECONDS)
    ceiling = min(float(settings.BALANCE_RETRY_CAP_SECONDS), base * 2**attempt)
    return random.uniform(ceiling / 2, ceiling)  # noqa: S311 (jitter, not security)


def item_refresh_run(
    *,
    item_id: int,
    realtime: bool = True,
    attempt: int = 0,
    redelivered: bool = False,
    fetched_at: datetime | None = None,
    on_demand: bool = False,
) -> RefreshRun:
    """Refresh one Item once, within the per-Item lock and Plaid's rate limits.

    A real-time refresh first takes a call from PLAID_BALANCE_MONTHLY_BUDGET
    (`budget.budget_take_call`; `on_demand`: the user's "Refresh now"); when the budget
    allows none it uses the cached endpoint instead, and says so in its log.

    `attempt` counts the transient failures so far (Plaid's, Redis's, the database's).
    Permanent errors and exhausted retries end the run with the Item's status set
    (`store.item_fetch_balances` / `errors.item_record_error`) and its pending mark ended;
    a refresh that fails keeps the last good balances. Raises only when the refresh ends
    on an error that is not Plaid's (the mark ended first; see the module's contract).

    `redelivered`: the broker delivered this task again because the worker that had it died
    before acknowledging it. If that worker had already stored a refresh newer than the
    request, the run is skipped, so a refresh is never repeated (and billed) twice.
    `fetched_at`: this run retries a store that failed after Plaid answered at that time
    (`RefreshRun.fetched_at`): the kept reply is stored without calling Plaid again, and
    nothing is done if it was stored after all.

    A run that stored, failed or was skipped then evaluates the owner's alerts here, in the
    worker, if it was the last of the owner's refreshes pending (`alerts/after_refresh.py`:
    one evaluation per burst); a failure there is logged and never changes the run's
    outcome.

    Cost: one query for the Item, a Redis round trip each for the lock, the rate limit and
    the release, the Plaid call, then the store's transaction (about ten statements), then
    one plain SELECT of the owner's pending Items; the last refresh of a user's burst
    evaluates their alerts (one round trip on PostgreSQL when nothing changes:
    bench/alerts.py).
    """
    try:
        item = items.item_by_id(item_id=item_id)
        run = _run(item, item_id, realtime, attempt, redelivered, fetched_at, on_demand)
    except shared_state.SharedStateUnavailable as exc:
        return _shared_state_down(item_id, attempt, exc)
    except DATABASE_UNAVAILABLE as exc:
        if attempt >= settings.BALANCE_REFRESH_MAX_RETRIES:
            logger.error("Item %s: database unavailable (%s); giving up", item_id, exc)
            _kept.drop(item_id)
            _finish_quietly(item_id)
            raise
        # At the first read, or at any later point but the store (which says when Plaid
        # answered, below): nothing new was stored.
        return _database_retry(item_id, attempt, exc, fetched_at)
    except Exception:
        # Not stored, and no retry comes: the refresh ends here (the error goes up).
        _kept.drop(item_id)
        _finish_quietly(item_id)
        raise
    if item is not None and run.outcome in (Outcome.OK, Outcome.FAILED, Outcome.SKIPPED):
        _alerts_after(item.owner_id, item.pk)
    return run


def _alerts_after(user_id: int, item_id: int) -> None:
    """Evaluate the owner's alerts if this refresh, ended, was the last of theirs pending
    (a skipped one too: it may end a burst whose other refreshes stored). The refresh's
    outcome stands whatever happens here: a failure is logged, and the next refresh (or
    beat's alert sweep) evaluates."""
    try:
        alerts_after_refresh.user_alerts_after_refresh(user_id=user_id, item_id=item_id)
    except Exception:
        logger.exception("User %s: alerts not evaluated after a refresh", user_id)


def _run(
    item: PlaidItem | None,
    item_id: int,
    realtime: bool,
    attempt: int,
    redelivered: bool,
    fetched_at: datetime | None,
    on_demand: bool = False,
) -> RefreshRun:
    if item is None or not item.is_active:
        _kept.drop(item_id)
        _finish(item_id)
        return RefreshRun(Outcome.SKIPPED)
    if fetched_at is not None and _stored_since(item, fetched_at):
        # The failed store had committed after all (its caller lost the connection at the
        # commit), or a newer refresh stored since: the kept reply is not stored again.
        # Race: the mark ended here may be a request made since (its task is queued); at
        # worst that Item is queued once more before its refresh ends.
        logger.info("Item %s: its reply was stored after all; skipped", item_id)
        _kept.drop(item_id)
        _finish(item_id)
        return RefreshRun(Outcome.SKIPPED, "already stored")
    if redelivered and _already_refreshed(item):
        # The dead worker stored it but never acknowledged the task. No request came since
        # (it would have marked the Item pending again), so this request is served.
        logger.info("Item %s: delivered again but already refreshed; skipped", item_id)
        _finish(item_id)
        return RefreshRun(Outcome.SKIPPED, "already refreshed")

    token = shared_state.item_lock_acquire(item_id)
    if token is None:
        # Another refresh of this Item is running (or its holder died and the lock has
        # not expired yet): look again soon, never later than the lock's expiry.
        poll = random.uniform(LOCK_POLL_SECONDS / 2, LOCK_POLL_SECONDS)  # noqa: S311
        wait = max(0.5, min(poll, shared_state.item_lock_remaining(item_id)))
        pending.item_pending_keep(item_id=item_id, seconds=wait)
        return RefreshRun(Outcome.RETRY, "locked", wait, attempt, fetched_at)
    try:
        return _call_and_store(item, realtime, attempt, fetched_at, on_demand)
    finally:
        _release(item_id, token)


def _call_and_store(
    item: PlaidItem,
    realtime: bool,
    attempt: int,
    fetched_at: datetime | None,
    on_demand: bool = False,
) -> RefreshRun:
    """Within the Item's lock: take a call from the budget and the rate limits, call
    Plaid, store.

    A reply kept from an earlier run of this request is stored instead of calling Plaid."""
    kept = _kept.take(item.pk, fetched_at) if fetched_at is not None else None
    if kept is not None:
        fetched = replace(kept, item=item)  # the Item as it is now, the reply as it was
    else:
        if realtime and not budget.budget_take_call(item=item, on_demand=on_demand):
            logger.info("Item %s: the Plaid balance budget is spent; cached balances", item.pk)
            realtime = False
        endpoint = shared_state.BALANCE_GET if realtime else shared_state.ACCOUNTS_GET
        wait = _rate_wait(endpoint, item.pk)
        if wait > 0:
            if realtime:
                budget.budget_return_call()  # not made: the retry takes one again
            pending.item_pending_keep(item_id=item.pk, seconds=wait)
            return RefreshRun(Outcome.RETRY, "throttled", wait, attempt)
        try:
            fetched = store.item_fetch_balances(
                item=item, realtime=realtime, record_retryable=False
            )
        except PlaidError as error:
            if errors.is_operator_error(error):
                # This server's Plaid keys, not the Item: logged for the operator by the
                # fetch, the Item left as it was (no retry: the keys will not fix themselves).
                _finish(item.pk)
                return RefreshRun(Outcome.FAILED, f"{error.code} (the operator's Plaid keys)")
            if error.retryable and attempt < settings.BALANCE_REFRESH_MAX_RETRIES:
                delay = retry_delay(attempt)
                pending.item_pending_keep(item_id=item.pk, seconds=delay)
                return RefreshRun(Outcome.RETRY, error.code, delay, attempt + 1)
            if error.retryable:
                errors.item_record_error(item=item, error=error, retries=attempt)
            _finish(item.pk)
            return RefreshRun(Outcome.FAILED, error.code)
    # Kept before the first step that can fail: until stored, a retry needs no new call.
    _kept.put(fetched)
    try:
        # A kept reply may have had its call logged when its store failed: not twice.
        result = store.item_store_fetched(fetched=fetched, call_logged=kept is not None)
    except DATABASE_UNAVAILABLE as exc:
        if attempt >= settings.BALANCE_REFRESH_MAX_RETRIES:
            raise  # `item_refresh_run` gives up
        # The database gave the transaction up or cannot be reached: nothing of it was
        # stored, or (a commit whose reply was lost) all of it; the retry tells which.
        return _database_retry(item.pk, attempt, exc, fetched.called_at)
    # (Any other exception: `item_refresh_run` drops the reply and ends the mark.)
    _kept.drop(item.pk)
    # The store ended the pending refresh in its transaction.
    return RefreshRun(Outcome.OK, f"{result.accounts_created + result.accounts_updated} accounts")


def _rate_wait(endpoint: str, item_id: int) -> float:
    """Take a call to `endpoint` from Plaid's rate limits, sleeping in this thread for it
    while the waits add up to at most `_rate_wait_cap()`; return 0 once taken, else the
    seconds the task is to wait before it runs again."""
    cap, waited = _rate_wait_cap(), 0.0
    while True:
        wait = shared_state.plaid_call_wait(endpoint, item_id)
        if wait <= 0 or waited + wait > cap:
            return wait
        store.database_release()  # a pool's connection is not held through the sleep
        _sleep(wait)
        waited += wait


def _rate_wait_cap() -> float:
    """Return how long a run holding its Item's lock may sleep for the rate limit:
    RATE_WAIT_IN_THREAD_SECONDS, or less, so that the lock (BALANCE_REFRESH_LOCK_TTL)
    still outlasts the Plaid call's timeout (PLAID_TIMEOUT) with half its slack left for
    the store (the defaults: 125 s against 65 s, so the full 30 s)."""
    slack = settings.BALANCE_REFRESH_LOCK_TTL - sum(settings.PLAID_TIMEOUT)
    return max(0.0, min(RATE_WAIT_IN_THREAD_SECONDS, slack / 2))


def _sleep(seconds: float) -> None:
    """Sleep this thread (the seam tests replace)."""
    time.sleep(seconds)


def _database_retry(
    item_id: int, attempt: int, exc: Exception, fetched_at: datetime | None
) -> RefreshRun:
    """Say when to retry after the database failed, keeping the Item pending meanwhile."""
    logger.warning("Item %s: database unavailable (%s); retrying later", item_id, exc)
    delay = retry_delay(attempt)
    try:
        pending.item_pending_keep(item_id=item_id, seconds=delay)
    except Error:
        # Unrenewed, the mark still counts until BALANCE_REFRESH_PENDING_TTL after it was
        # last set: longer than all the retries' backoff under the default settings.
        logger.warning("Item %s: pending mark not kept; it expires on its own", item_id)
    return RefreshRun(Outcome.RETRY, "DATABASE", delay, attempt + 1, fetched_at)


def _release(item_id: int, token: str) -> None:
    """Release the Item's lock. A stored reply stays stored whatever Redis does: a lock
    left behind expires on its own."""
    try:
        shared_state.item_lock_release(item_id, token)
    except shared_state.SharedStateUnavailable:
        logger.warning("Item %s: lock not released; it expires on its own", item_id)


def _finish(item_id: int) -> None:
    """End the pending state: the Item may be queued again."""
    pending.items_pending_end(item_ids=[item_id])


def _finish_quietly(item_id: int) -> None:
    """End the pending state after a failure; the database may be the failure, so a mark
    left behind is only logged: it expires on its own (BALANCE_REFRESH_PENDING_TTL)."""
    try:
        _finish(item_id)
    except Error:  # DatabaseError, and InterfaceError (a broken connection), which is not one
        logger.warning("Item %s: pending mark not ended; it expires on its own", item_id)


def item_refresh_abandon(*, item_id: int) -> None:
    """End the Item's pending refresh after its task failed outside `item_refresh_run`
    (its retry could not be queued): it may be queued again. Never raises for the
    database: a mark it cannot end expires on its own."""
    _kept.drop(item_id)
    _finish_quietly(item_id)


def _stored_since(item: PlaidItem, fetched_at: datetime) -> bool:
    """Whether a refresh was stored after Plaid's reply of `fetched_at` (a store sets
    `last_refreshed_at` after its reply arrived)."""
    return item.last_refreshed_at is not None and item.last_refreshed_at >= fetched_at


class _KeptReplies:
    """Plaid's replies not stored yet, by Item id, in this process (never shared, never
    written anywhere): what a retry of a failed store stores instead of calling again.

    Thread-safe (the worker's threads share it). A reply no retry came for (the retry ran
    in another process, or the Item was refreshed otherwise) is dropped after
    BALANCE_REFRESH_PENDING_TTL; the per-Item lock makes one refresh of an Item at a time
    use it. Cost: one reply's parsed accounts per Item caught by a failed store.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._replies: dict[int, tuple[float, FetchedBalances]] = {}

    def put(self, fetched: FetchedBalances) -> None:
        now = time.monotonic()
        with self._lock:
            ttl = float(settings.BALANCE_REFRESH_PENDING_TTL)
            for item_id in [k for k, (at, _) in self._replies.items() if now - at > ttl]:
                del self._replies[item_id]
            self._replies[fetched.item.pk] = (now, fetched)

    def take(self, item_id: int, called_at: datetime) -> FetchedBalances | None:
        """Remove and return the Item's reply of `called_at`, if this process keeps it."""
        with self._lock:
            entry = self._replies.get(item_id)
            if entry is None or entry[1].called_at != called_at:
                return None
            del self._replies[item_id]
            return entry[1]

    def drop(self, item_id: int) -> None:
        with self._lock:
            self._replies.pop(item_id, None)

    def clear(self) -> None:
        with self._lock:
            self._replies.clear()


_kept = _KeptReplies()


def _already_refreshed(item: PlaidItem) -> bool:
    """Whether the Item's latest refresh request has been served: a store ends it (clears
    the mark), and a refresh stored after it also counts."""
    requested, refreshed = item.refresh_requested_at, item.last_refreshed_at
    return requested is None or (refreshed is not None and refreshed >= requested)


def _shared_state_down(
    item_id: int, attempt: int, exc: shared_state.SharedStateUnavailable
) -> RefreshRun:
    """Without the shared lock and limits, calling Plaid could break them: wait."""
    if attempt < settings.BALANCE_REFRESH_MAX_RETRIES:
        logger.warning("Item %s: %s; retrying later", item_id, exc)
        return RefreshRun(Outcome.RETRY, "THROTTLE_UNAVAILABLE", retry_delay(attempt), attempt + 1)
    logger.error("Item %s: %s; giving up", item_id, exc)
    _kept.drop(item_id)
    _finish_quietly(item_id)
    return RefreshRun(Outcome.FAILED, "THROTTLE_UNAVAILABLE")


class ItemBusy(Exception):
    """The Item is being refreshed elsewhere, or Plaid's rate limit allows no call now."""


def item_refresh_in_process(*, item: PlaidItem) -> RefreshResult:
    """Refresh `item` in this process (no retries), within its lock and the rate limits.

    For `refresh_balances --sync`. Real time within PLAID_BALANCE_MONTHLY_BUDGET (cached
    balances once it is spent). Raises ItemBusy instead of waiting, PlaidError as
    `store.item_refresh_balances` does, and SharedStateUnavailable when Redis is unreachable.
    """
    token = shared_state.item_lock_acquire(item.pk)
    if token is None:
        raise ItemBusy("a refresh of this Item is already running")
    try:
        # Within PLAID_BALANCE_MONTHLY_BUDGET like any refresh: cached balances once spent.
        realtime = budget.budget_take_call(item=item)
        endpoint = shared_state.BALANCE_GET if realtime else shared_state.ACCOUNTS_GET
        wait = shared_state.plaid_call_wait(endpoint, item.pk)
        if wait > 0:
            if realtime:
                budget.budget_return_call()
            raise ItemBusy(f"Plaid's rate limit allows the next call in {wait:.0f} s")
        return store.item_refresh_balances(item=item, realtime=realtime)
    finally:
        shared_state.item_lock_release(item.pk, token)
