"""One background refresh of one Item: lock, throttle, call Plaid, decide about retrying.

`item_refresh_run` is what the Celery task runs. It never sleeps: when the Item is locked
by another refresh, Plaid's rate limit would be exceeded, or a transient error happened,
it returns when to try again and the task re-queues itself (acks_late keeps the message
until then, so a worker dying mid-refresh loses nothing).
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass

from django.conf import settings

from . import services, throttle
from .models import PlaidItem
from .plaid_client import PlaidError

logger = logging.getLogger(__name__)

# A refresh finding its Item locked looks again after 2.5-5 s (a refresh takes seconds).
LOCK_POLL_SECONDS = 5.0


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
    try:
        return _run(item_id=item_id, realtime=realtime, attempt=attempt, redelivered=redelivered)
    except throttle.ThrottleUnavailable as exc:
        # Without the shared lock and limits, calling Plaid could break them: wait.
        if attempt < settings.BALANCE_REFRESH_MAX_RETRIES:
            logger.warning("Item %s: %s; retrying later", item_id, exc)
            return RefreshRun("retry: THROTTLE_UNAVAILABLE", retry_delay(attempt), attempt + 1)
        logger.error("Item %s: %s; giving up", item_id, exc)
        return RefreshRun("failed: THROTTLE_UNAVAILABLE")


def _finish(item_id: int) -> None:
    """End the pending state: the Item may be queued again."""
    throttle.pending_clear(item_id)


def _already_refreshed(item: PlaidItem) -> bool:
    """Whether a refresh was stored after the Item's latest refresh request."""
    requested, refreshed = item.refresh_requested_at, item.last_refreshed_at
    return requested is not None and refreshed is not None and refreshed >= requested


def _run(*, item_id: int, realtime: bool, attempt: int, redelivered: bool = False) -> RefreshRun:
    item = PlaidItem.objects.filter(pk=item_id).first()
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
    try:
        endpoint = throttle.BALANCE_GET if realtime else throttle.ACCOUNTS_GET
        wait = throttle.plaid_call_wait(endpoint, item_id)
        if wait > 0:
            throttle.pending_extend(item_id, wait)
            return RefreshRun("retry: throttled", wait, attempt)
        try:
            result = services.item_refresh_balances(
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
        _finish(item_id)
        return RefreshRun(f"ok: {result.accounts_created + result.accounts_updated} accounts")
    finally:
        try:
            throttle.item_lock_release(item_id, token)
        except throttle.ThrottleUnavailable:
            logger.warning("Item %s: lock not released; it expires on its own", item_id)


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
