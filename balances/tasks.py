"""Celery tasks: ids in, one service call each, no queries. Never a token as an argument.

The top of the app: tasks import services; a service that queues a task imports this
module lazily, when it publishes (see `services/queueing.py`).
"""

from __future__ import annotations

import logging
from datetime import datetime

from celery import shared_task
from celery.app.task import Task

from balances.log_fields import log_context
from balances.services import beat, history, refresh
from balances.services.alerts import deliver, evaluate, sweep

logger = logging.getLogger(__name__)


@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True)
def refresh_item_balances(
    self: Task,
    item_id: int,
    realtime: bool = True,
    attempt: int = 0,
    fetched_at: str | None = None,
    on_demand: bool = False,
) -> str:
    """Refresh one Item's balances (`item_id` is PlaidItem's primary key).

    Re-queues itself when the Item is locked by another refresh, when Plaid's rate limit
    allows no call within `refresh.RATE_WAIT_IN_THREAD_SECONDS` (shorter waits are slept
    in the run; neither counts as a failure) or after a transient error of Plaid, Redis or
    the database (up to BALANCE_REFRESH_MAX_RETRIES, exponential backoff with jitter).
    `fetched_at` (ISO time, set by a retry after Plaid answered) lets the retry store the
    reply kept in this process instead of calling Plaid again. A refresh that fails, or
    whose retry cannot be queued, ends the Item's pending mark. `on_demand`: the user's
    "Refresh now" (real time past a spent budget, within the per-user daily cap).
    """
    # The service counts the failures (`attempt`); waits for the lock or the rate limit are
    # not failures. Every record this task logs carries the Item's id.
    with log_context(item_id=item_id):
        run = refresh.item_refresh_run(
            item_id=item_id,
            realtime=realtime,
            attempt=attempt,
            redelivered=bool((self.request.delivery_info or {}).get("redelivered")),
            fetched_at=datetime.fromisoformat(fetched_at) if fetched_at else None,
            on_demand=on_demand,
        )
        if run.retry_in is None:
            return str(run)
        kwargs: dict[str, object] = {"realtime": realtime, "attempt": run.attempt}
        if on_demand:
            kwargs["on_demand"] = True
        if run.fetched_at is not None:
            kwargs["fetched_at"] = run.fetched_at.isoformat()
        # Queued again as a new message, and this run ends as a success: not through
        # `self.retry`, whose Retry exception has Celery build a traceback for every wait.
        # At production shape a fifth of the runs wait (the lock, Plaid's rate limit), and
        # those tracebacks were a tenth of the worker's GIL samples (docs/BENCHMARKS.md,
        # finding 11).
        try:
            self.apply_async(args=(item_id,), kwargs=kwargs, countdown=run.retry_in)
        except Exception:
            # The retry could not be queued (the broker is unreachable): no refresh comes.
            refresh.item_refresh_abandon(item_id=item_id)
            raise
        return str(run)


@shared_task(bind=True)
def refresh_all_items(self: Task) -> int:
    """Queue a refresh of every active Item (run by beat every BALANCE_REFRESH_INTERVAL).

    Uses BALANCE_SCHEDULED_SOURCE; Items already queued or running are skipped, and so is
    a second fan-out within 0.9 interval (a second beat by mistake). A fan-out delivered
    again after its worker died finishes the cycle: it queues the Items neither pending
    nor refreshed since the cycle began.
    """
    redelivered = bool((self.request.delivery_info or {}).get("redelivered"))
    queued = beat.items_fanout(resume=redelivered)
    if queued is None:
        logger.warning("Fan-out skipped: another ran less than an interval ago (two beats?)")
        return 0
    return queued


@shared_task
def prune_balance_history() -> int:
    """Thin intra-day snapshots older than BALANCE_HISTORY_DETAIL_DAYS (run daily by beat)."""
    return history.snapshots_prune().snapshots_deleted


@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True, max_retries=None)
def alert_deliver(self: Task, delivery_id: int) -> str:
    """Send one alert delivery (`delivery_id`: AlertDelivery's primary key) by e-mail or push.

    Retries itself with backoff while the mail server or push service fails (the service
    counts the attempts and records the state); a worker killed while sending leaves the
    task unacknowledged, so it is delivered again and sends then.
    """
    run = deliver.alert_delivery_send(delivery_id=delivery_id)
    if run.retry_in is None:
        return str(run)
    # A retry that cannot be queued (broker down) is found by beat's sweep (overdue).
    raise self.retry(args=(delivery_id,), countdown=run.retry_in)


@shared_task
def alerts_evaluate(user_id: int) -> int:
    """Evaluate the alerts of one user (queued after a webhook changed one of their Items;
    refreshes evaluate in their own task); return how many fired."""
    return evaluate.user_alerts_evaluate(user_id=user_id)


@shared_task
def alerts_sweep() -> str:
    """Alert connections not refreshed for too long; queue lost deliveries (run by beat)."""
    result = sweep.alerts_sweep()
    return f"{result.users_evaluated} users evaluated, {result.deliveries_queued} queued"
