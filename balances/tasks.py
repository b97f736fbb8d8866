"""Celery tasks: thin wrappers that call services. Arguments are ids, never tokens."""

from __future__ import annotations

import logging
from collections import Counter

from celery import shared_task
from celery.app.task import Task

from finance.logs import log_context

from . import beat, history, refresh, services
from .models import PlaidItem

logger = logging.getLogger(__name__)

# Kept for callers of the old names; the values come from settings now.
retry_delay = refresh.retry_delay


@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True, max_retries=None)
def refresh_item_balances(self: Task, item_id: int, realtime: bool = True, attempt: int = 0) -> str:
    """Refresh one Item's balances (`item_id` is PlaidItem's primary key).

    Re-queues itself when the Item is locked by another refresh, when Plaid's rate limit
    would be exceeded (neither counts as a failure) or after a transient error (up to
    BALANCE_REFRESH_MAX_RETRIES, exponential backoff with jitter).
    """
    # Every record this task logs carries the Item's id (never its token).
    with log_context(item_id=item_id):
        run = refresh.item_refresh_run(
            item_id=item_id,
            realtime=realtime,
            attempt=attempt,
            redelivered=bool((self.request.delivery_info or {}).get("redelivered")),
        )
    if run.retry_in is not None:
        raise self.retry(
            args=(item_id,),
            kwargs={"realtime": realtime, "attempt": run.attempt},
            countdown=run.retry_in,
        )
    return run.outcome


@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True)
def refresh_items_balances(self: Task, item_ids: list[int], realtime: bool = True) -> str:
    """Refresh a batch of Items (beat's fan-out), their replies stored together.

    An Item that must wait (locked, rate limit) or retry (transient error) goes on alone,
    as a `refresh_item_balances` task with the delay; a batch delivered again after its
    worker died skips the Items it already stored. Returns the count of each outcome.
    """
    runs = refresh.items_refresh_run(
        item_ids=item_ids,
        realtime=realtime,
        redelivered=bool((self.request.delivery_info or {}).get("redelivered")),
    )
    for item_id, run in runs.items():
        if run.retry_in is not None:
            refresh_item_balances.apply_async(
                args=(item_id,),
                kwargs={"realtime": realtime, "attempt": run.attempt},
                # No delay: no countdown, so the worker runs it like any task (not an ETA).
                countdown=run.retry_in or None,  # type: ignore[arg-type]
            )
    outcomes = Counter(run.outcome.split(":")[0] for run in runs.values())
    return ", ".join(f"{outcome} {count}" for outcome, count in sorted(outcomes.items()))


@shared_task(bind=True)
def refresh_all_items(self: Task) -> int:
    """Queue a refresh of every active Item (run by beat every BALANCE_REFRESH_INTERVAL).

    Uses BALANCE_SCHEDULED_SOURCE; Items already queued or running are skipped, and so is
    a second fan-out within 0.9 interval (a second beat by mistake). A fan-out delivered
    again after its worker died finishes the cycle: it queues the Items neither pending
    nor refreshed since the cycle began.
    """
    redelivered = bool((self.request.delivery_info or {}).get("redelivered"))
    # Once per interval, however many beats run (balances/beat.py); /healthz/ reads the claim.
    cycle = beat.fanout_claim(resume=redelivered)
    if cycle is None:
        logger.warning("Fan-out skipped: another ran less than an interval ago (two beats?)")
        return 0
    items = PlaidItem.objects.filter(
        status__in=[PlaidItem.Status.HEALTHY, PlaidItem.Status.ERROR]
    ).exclude(last_refreshed_at__gte=cycle)
    queued = services.items_queue_refresh(items=items.only("pk", "status"))
    beat.fanout_done(items_queued=queued)
    return queued


@shared_task
def prune_balance_history() -> int:
    """Thin intra-day snapshots older than BALANCE_HISTORY_DETAIL_DAYS (run daily by beat)."""
    return history.snapshots_prune().snapshots_deleted
