"""Background refreshes: lock, throttle, call Plaid, store, decide about retrying.

`item_refresh_run` (one Item) and `items_refresh_run` (a batch from beat's fan-out, stored
together) are what the Celery tasks run. Neither sleeps: when an Item is locked by another
refresh, Plaid's rate limit would be exceeded, or a transient error happened, the run says
when to try again and the task queues that Item again (acks_late keeps the message until
then, so a worker dying mid-refresh loses nothing).
"""

from __future__ import annotations

import contextlib
import logging
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass

from django.conf import settings
from django.db import OperationalError

from finance.logs import log_context

from . import services, throttle
from .models import PlaidItem
from .plaid_client import PlaidError

logger = logging.getLogger(__name__)

# A refresh finding its Item locked looks again after 2.5-5 s (a refresh takes seconds).
LOCK_POLL_SECONDS = 5.0
# A batch whose calls take this long, SLOW_CALLS_IN_A_ROW times in a row, sends its
# remaining Items on as tasks of their own: next to such latency the CPU a batch saves
# (milliseconds per Item) does not matter, and the worker's threads call Plaid in parallel
# instead of one batch calling in turn. One slow call alone is no sign: on a busy machine
# a call now and then waits that long for a CPU, and handing off then would cost CPU (a
# single-Item task costs several times a batched Item's) exactly when it is short.
SLOW_CALL_SECONDS = 0.1
SLOW_CALLS_IN_A_ROW = 2


@dataclass(frozen=True, slots=True)
class RefreshRun:
    """The outcome of one run; `retry_in` (seconds) set when the task must run again."""

    outcome: str
    retry_in: float | None = None
    attempt: int = 0


def retry_delay(attempt: int) -> float:
    """Return the seconds to wait before retry number `attempt` + 1 (full-ish jitter)."""
    base = float(settings.BALANCE_RETRY_BASE_SECONDS)
    ceiling = min(float(settings.BALANCE_RETRY_CAP_SECONDS), base * 2**attempt)
    return random.uniform(ceiling / 2, ceiling)  # noqa: S311 (jitter, not security)


def item_refresh_run(
    *, item_id: int, realtime: bool = True, attempt: int = 0, redelivered: bool = False
) -> RefreshRun:
    """Refresh one Item once, within the per-Item lock and Plaid's rate limits.

    `attempt` counts the transient failures so far. Permanent errors and exhausted
    retries end the run with the Item's status set (`item_refresh_balances` /
    `item_record_error`); a refresh that fails keeps the last good balances.

    `redelivered`: the broker delivered this task again because the worker that had it died
    before acknowledging it. If that worker had already stored a refresh newer than the
    request, the run is skipped, so a refresh is never repeated (and billed) twice.
    """
    return items_refresh_run(
        item_ids=[item_id], realtime=realtime, attempt=attempt, redelivered=redelivered
    )[item_id]


def items_refresh_run(
    *, item_ids: Sequence[int], realtime: bool = True, attempt: int = 0, redelivered: bool = False
) -> dict[int, RefreshRun]:
    """Refresh each Item once, as `item_refresh_run` does, and return each one's run.

    The Items are called one after the other; their replies are stored together (one
    transaction, a few statements for all) once all are fetched or before a call that
    would keep the oldest unstored reply waiting past BALANCE_REFRESH_STORE_EVERY seconds.
    Each Item's lock is held from before its call until its reply is stored, so no other
    refresh of it interleaves. After SLOW_CALLS_IN_A_ROW calls in a row slower than
    SLOW_CALL_SECONDS the remaining Items are left untouched, their runs "retry: queued
    alone" with no delay.

    A worker dying mid-batch loses the replies not stored yet: the batch, delivered again,
    calls their Items again (at most about BALANCE_REFRESH_STORE_EVERY seconds of calls per
    thread, billed twice). Cost: one query for the Items, the Plaid calls, then per store
    about ten statements (a few more per owner) and two Redis round trips per Item.
    """
    items = PlaidItem.objects.in_bulk(list(item_ids))
    runs: dict[int, RefreshRun] = {}
    batch = _Unstored(attempt)
    slow = 0  # slow calls in a row
    try:
        for n, item_id in enumerate(item_ids):
            if batch.due():
                runs.update(batch.store())
            started = time.monotonic()
            with log_context(item_id=item_id):
                try:
                    run = _fetch(items.get(item_id), item_id, realtime, attempt, redelivered, batch)
                except throttle.ThrottleUnavailable as exc:
                    run = _throttle_down(item_id, attempt, exc)
            if run is not None:
                runs[item_id] = run
            slow = slow + 1 if time.monotonic() - started >= SLOW_CALL_SECONDS else 0
            if slow >= SLOW_CALLS_IN_A_ROW:
                # Slow calls: batching saves nothing next to them, and calling the rest
                # one after the other would leave the worker's other threads idle.
                for rest in item_ids[n + 1 :]:
                    runs[rest] = RefreshRun("retry: queued alone", 0.0, attempt)
                break
        runs.update(batch.store())
    finally:
        batch.release()
    return runs


class _Unstored:
    """Fetched replies waiting to be stored together, with their Items' lock tokens."""

    def __init__(self, attempt: int) -> None:
        self.attempt = attempt
        self.fetched: list[services.FetchedBalances] = []
        self.tokens: dict[int, str] = {}
        self.since = 0.0

    def add(self, fetched: services.FetchedBalances, token: str) -> None:
        if not self.fetched:
            self.since = time.monotonic()
        self.fetched.append(fetched)
        self.tokens[fetched.item.pk] = token

    def due(self) -> bool:
        """Whether to store before the next call: when the oldest reply would otherwise
        wait longer than BALANCE_REFRESH_STORE_EVERY, taking the next call to last as long
        as the last one (so with slow calls every reply is stored at once)."""
        if not self.fetched:
            return False
        last_call = (self.fetched[-1].result.duration_ms or 0) / 1000
        waited = time.monotonic() - self.since
        return waited + last_call >= settings.BALANCE_REFRESH_STORE_EVERY

    def store(self) -> dict[int, RefreshRun]:
        """Store the replies; end each Item's pending state and release its lock."""
        if not self.fetched:
            return {}
        fetched, self.fetched = self.fetched, []
        try:
            results = services.items_store_fetched(fetched=fetched)
        except OperationalError as exc:
            # The database gave up the transaction (a deadlock, a restart): nothing of it
            # was stored. Call and store again later, the Items staying pending meanwhile.
            logger.warning("Items %s not stored: %s; retrying later", sorted(self.tokens), exc)
            self.release()
            if self.attempt >= settings.BALANCE_REFRESH_MAX_RETRIES:
                raise
            delay = retry_delay(self.attempt)
            with contextlib.suppress(throttle.ThrottleUnavailable):  # else marks expire
                for f in fetched:
                    throttle.pending_extend(f.item.pk, delay)
            return {
                f.item.pk: RefreshRun("retry: DATABASE", delay, self.attempt + 1) for f in fetched
            }
        self.release(finished=[f.item.pk for f in fetched])
        return {
            f.item.pk: RefreshRun(
                f"ok: {result.accounts_created + result.accounts_updated} accounts"
            )
            for f, result in zip(fetched, results, strict=True)
        }

    def release(self, *, finished: Sequence[int] = ()) -> None:
        """Release the locks held (after a store, or when a store failed); clear the pending
        marks of the `finished` Items. Stored replies stay stored whatever Redis does: a
        lock or mark left behind expires on its own."""
        tokens, self.tokens = self.tokens, {}
        try:
            throttle.items_release(tokens, finished=finished)
        except throttle.ThrottleUnavailable:
            logger.warning("Items %s: locks and marks not released; they expire", sorted(tokens))


def _release(item_id: int, token: str) -> None:
    try:
        throttle.item_lock_release(item_id, token)
    except throttle.ThrottleUnavailable:
        logger.warning("Item %s: lock not released; it expires on its own", item_id)


def _finish(item_id: int) -> None:
    """End the pending state: the Item may be queued again."""
    throttle.pending_clear(item_id)


def _already_refreshed(item: PlaidItem) -> bool:
    """Whether a refresh was stored after the Item's latest refresh request."""
    requested, refreshed = item.refresh_requested_at, item.last_refreshed_at
    return requested is not None and refreshed is not None and refreshed >= requested


def _throttle_down(item_id: int, attempt: int, exc: throttle.ThrottleUnavailable) -> RefreshRun:
    """Without the shared lock and limits, calling Plaid could break them: wait."""
    if attempt < settings.BALANCE_REFRESH_MAX_RETRIES:
        logger.warning("Item %s: %s; retrying later", item_id, exc)
        return RefreshRun("retry: THROTTLE_UNAVAILABLE", retry_delay(attempt), attempt + 1)
    logger.error("Item %s: %s; giving up", item_id, exc)
    return RefreshRun("failed: THROTTLE_UNAVAILABLE")


def _fetch(
    item: PlaidItem | None,
    item_id: int,
    realtime: bool,
    attempt: int,
    redelivered: bool,
    batch: _Unstored,
) -> RefreshRun | None:
    """Call Plaid for one Item within its lock and the rate limits; add the reply to
    `batch` (None: its run ends when the batch is stored), or return how the run ended."""
    if item is None or not item.is_active:
        if item is not None and item.refresh_requested_at is not None:
            PlaidItem.objects.filter(pk=item_id).update(refresh_requested_at=None)
        _finish(item_id)
        return RefreshRun("skipped")
    if redelivered and _already_refreshed(item):
        # The dead worker stored it but never acknowledged the task. No request came since
        # (it would be newer than the refresh), so the pending mark is this request's.
        logger.info("Item %s: delivered again but already refreshed; skipped", item_id)
        _finish(item_id)
        return RefreshRun("skipped: already refreshed")

    token = throttle.item_lock_acquire(item_id)
    if token is None:
        # Another refresh of this Item is running (or its holder died and the lock has
        # not expired yet): look again soon, never later than the lock's expiry.
        poll = random.uniform(LOCK_POLL_SECONDS / 2, LOCK_POLL_SECONDS)  # noqa: S311
        wait = max(0.5, min(poll, throttle.item_lock_remaining(item_id)))
        throttle.pending_extend(item_id, wait)
        return RefreshRun("retry: locked", wait, attempt)
    kept = False
    try:
        endpoint = throttle.BALANCE_GET if realtime else throttle.ACCOUNTS_GET
        wait = throttle.plaid_call_wait(endpoint, item_id)
        if wait > 0:
            throttle.pending_extend(item_id, wait)
            return RefreshRun("retry: throttled", wait, attempt)
        try:
            fetched = services.item_fetch_balances(
                item=item, realtime=realtime, record_retryable=False
            )
        except PlaidError as error:
            if error.retryable and attempt < settings.BALANCE_REFRESH_MAX_RETRIES:
                delay = retry_delay(attempt)
                throttle.pending_extend(item_id, delay)
                return RefreshRun(f"retry: {error.code}", delay, attempt + 1)
            if error.retryable:
                services.item_record_error(item=item, error=error, retries=attempt)
            _finish(item_id)
            return RefreshRun(f"failed: {error.code}")
        batch.add(fetched, token)  # the lock is released once the reply is stored
        kept = True
        return None
    finally:
        if not kept:
            _release(item_id, token)


class ItemBusy(Exception):
    """The Item is being refreshed elsewhere, or Plaid's rate limit allows no call now."""


def item_refresh_in_process(*, item: PlaidItem) -> services.RefreshResult:
    """Refresh `item` in this process (no retries), within its lock and the rate limits.

    For `refresh_balances --sync`. Raises ItemBusy instead of waiting, PlaidError as
    `item_refresh_balances` does, and ThrottleUnavailable when Redis is unreachable.
    """
    token = throttle.item_lock_acquire(item.pk)
    if token is None:
        raise ItemBusy("a refresh of this Item is already running")
    try:
        wait = throttle.plaid_call_wait(throttle.BALANCE_GET, item.pk)
        if wait > 0:
            raise ItemBusy(f"Plaid's rate limit allows the next call in {wait:.0f} s")
        return services.item_refresh_balances(item=item)
    finally:
        throttle.item_lock_release(item.pk, token)
