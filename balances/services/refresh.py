"""Background refreshes of one Item: lock, throttle, call Plaid, store, decide about retrying.

`item_refresh_run` is what the refresh task runs. It never sleeps: when the Item is locked
by another refresh, Plaid's rate limit would be exceeded, or a transient error happened,
the run says when to try again and the task queues itself again (acks_late keeps the
message until then, so a worker dying mid-refresh loses nothing).
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass
from enum import StrEnum

from django.conf import settings
from django.db import DatabaseError, OperationalError

from balances.models import PlaidItem
from balances.plaid.errors import PlaidError
from balances.services import errors, pending, store
from balances.services.store import RefreshResult
from balances.shared_state import api as shared_state

logger = logging.getLogger(__name__)

# A refresh finding its Item locked looks again after 2.5-5 s (a refresh takes seconds).
LOCK_POLL_SECONDS = 5.0


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

    def __str__(self) -> str:
        return f"{self.outcome}: {self.detail}" if self.detail else str(self.outcome)


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
    retries end the run with the Item's status set (`store.item_fetch_balances` /
    `errors.item_record_error`); a refresh that fails keeps the last good balances.

    `redelivered`: the broker delivered this task again because the worker that had it died
    before acknowledging it. If that worker had already stored a refresh newer than the
    request, the run is skipped, so a refresh is never repeated (and billed) twice.

    Cost: one query for the Item, a Redis round trip each for the lock, the rate limit and
    the release, the Plaid call, then the store's transaction (about ten statements).
    """
    item = PlaidItem.objects.filter(pk=item_id).first()
    try:
        return _run(item, item_id, realtime, attempt, redelivered)
    except shared_state.SharedStateUnavailable as exc:
        return _shared_state_down(item_id, attempt, exc)


def _run(
    item: PlaidItem | None, item_id: int, realtime: bool, attempt: int, redelivered: bool
) -> RefreshRun:
    if item is None or not item.is_active:
        _finish(item_id)
        return RefreshRun(Outcome.SKIPPED)
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
        return RefreshRun(Outcome.RETRY, "locked", wait, attempt)
    try:
        return _call_and_store(item, realtime, attempt)
    finally:
        _release(item_id, token)


def _call_and_store(item: PlaidItem, realtime: bool, attempt: int) -> RefreshRun:
    """Within the Item's lock: take a call from the rate limits, call Plaid, store."""
    endpoint = shared_state.BALANCE_GET if realtime else shared_state.ACCOUNTS_GET
    wait = shared_state.plaid_call_wait(endpoint, item.pk)
    if wait > 0:
        pending.item_pending_keep(item_id=item.pk, seconds=wait)
        return RefreshRun(Outcome.RETRY, "throttled", wait, attempt)
    try:
        fetched = store.item_fetch_balances(item=item, realtime=realtime, record_retryable=False)
    except PlaidError as error:
        if error.retryable and attempt < settings.BALANCE_REFRESH_MAX_RETRIES:
            delay = retry_delay(attempt)
            pending.item_pending_keep(item_id=item.pk, seconds=delay)
            return RefreshRun(Outcome.RETRY, error.code, delay, attempt + 1)
        if error.retryable:
            errors.item_record_error(item=item, error=error, retries=attempt)
        _finish(item.pk)
        return RefreshRun(Outcome.FAILED, error.code)
    try:
        result = store.item_store_fetched(fetched=fetched)
    except OperationalError as exc:
        # The database gave up the transaction (a deadlock, a restart): nothing of it was
        # stored. Call and store again later, the Item staying pending meanwhile.
        if attempt >= settings.BALANCE_REFRESH_MAX_RETRIES:
            _finish_quietly(item.pk)
            raise
        logger.warning("Item %s not stored: %s; retrying later", item.pk, exc)
        delay = retry_delay(attempt)
        try:
            pending.item_pending_keep(item_id=item.pk, seconds=delay)
        except DatabaseError:
            logger.warning("Item %s: pending mark not kept; it expires on its own", item.pk)
        return RefreshRun(Outcome.RETRY, "DATABASE", delay, attempt + 1)
    except Exception:
        # Not stored, and no retry comes: the refresh ends here (the error goes up).
        _finish_quietly(item.pk)
        raise
    # The store ended the pending refresh in its transaction.
    return RefreshRun(Outcome.OK, f"{result.accounts_created + result.accounts_updated} accounts")


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
    """End the pending state after a failed store; the database may be the failure, so a
    mark left behind is only logged: it expires on its own (BALANCE_REFRESH_PENDING_TTL)."""
    try:
        _finish(item_id)
    except DatabaseError:
        logger.warning("Item %s: pending mark not ended; it expires on its own", item_id)


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
    _finish(item_id)
    return RefreshRun(Outcome.FAILED, "THROTTLE_UNAVAILABLE")


class ItemBusy(Exception):
    """The Item is being refreshed elsewhere, or Plaid's rate limit allows no call now."""


def item_refresh_in_process(*, item: PlaidItem) -> RefreshResult:
    """Refresh `item` in this process (no retries), within its lock and the rate limits.

    For `refresh_balances --sync`. Raises ItemBusy instead of waiting, PlaidError as
    `store.item_refresh_balances` does, and SharedStateUnavailable when Redis is unreachable.
    """
    token = shared_state.item_lock_acquire(item.pk)
    if token is None:
        raise ItemBusy("a refresh of this Item is already running")
    try:
        wait = shared_state.plaid_call_wait(shared_state.BALANCE_GET, item.pk)
        if wait > 0:
            raise ItemBusy(f"Plaid's rate limit allows the next call in {wait:.0f} s")
        return store.item_refresh_balances(item=item)
    finally:
        shared_state.item_lock_release(item.pk, token)
