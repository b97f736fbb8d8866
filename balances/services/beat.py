"""Beat's fan-out happens once per interval, and `/healthz/` can tell when it last ran.

A second beat started by mistake (or a fan-out delivered twice) must not refresh, and so
bill, every Item twice: each fan-out first claims the interval with one conditional
UPDATE of its BeatRun row, atomic on every database, and a fan-out that finds the row
claimed less than 0.9 times BALANCE_REFRESH_INTERVAL ago queues nothing. Items are thus
refreshed at most once per 0.9 interval whatever the number of beats.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import F
from django.utils import timezone

from balances.models import BeatRun, PlaidItem
from balances.services import queueing

# Fan-outs closer together than this fraction of the interval are duplicates. Below 1 so
# a beat whose timer fires a little early is never skipped.
FANOUT_MIN_GAP = 0.9


def beat_run_record(*, task: str, items_queued: int = 0) -> BeatRun:
    """Record that `task` ran now (one upsert, no history)."""
    run, _ = BeatRun.objects.update_or_create(
        task=task, defaults={"ran_at": timezone.now(), "items_queued": items_queued}
    )
    return run


def fanout_claim(*, resume: bool = False) -> datetime | None:
    """Claim this interval's fan-out; return the cycle's start, or None when another
    fan-out already claimed it.

    `resume`: this fan-out was delivered again because the worker running it died (it may
    have queued only part of the Items): it continues the claimed cycle, whose start it
    returns. One conditional UPDATE (plus one INSERT the very first time); two fan-outs
    racing for the claim cannot both win: the UPDATE is atomic, and the unique `task` lets
    only one INSERT succeed.
    """
    now = timezone.now()
    gap = timedelta(seconds=settings.BALANCE_REFRESH_INTERVAL * FANOUT_MIN_GAP)
    claimed = BeatRun.objects.filter(task=BeatRun.FANOUT, ran_at__lte=now - gap).update(
        ran_at=now, items_queued=0
    )
    if claimed:
        return now
    run, created = BeatRun.objects.get_or_create(task=BeatRun.FANOUT, defaults={"ran_at": now})
    if created:
        return now
    return run.ran_at if resume else None


def items_fanout(*, resume: bool = False) -> int | None:
    """Queue a refresh of every active Item not refreshed in this cycle (beat's task).

    Claims the interval first (`fanout_claim`): returns None when another fan-out already
    did (two beats), else the number of refreshes queued. `resume` as `fanout_claim`: a
    fan-out delivered again finishes the cycle, queueing the Items neither pending nor
    refreshed since the cycle began.
    """
    cycle = fanout_claim(resume=resume)
    if cycle is None:
        return None
    items = PlaidItem.objects.active().exclude(last_refreshed_at__gte=cycle)
    # Each Item is checked again as it is marked, not as this list was read: a fan-out
    # delivered again while the first copy still runs (seen with kombu's Redis transport,
    # tests/e2e/test_scale_out.py) reads a list its Items leave as their refreshes end,
    # and must not queue (and bill) an Item the first copy's refresh has already done.
    queued = queueing.items_queue_refresh(
        items=items.only("pk", "status"), not_refreshed_since=cycle
    )
    fanout_done(items_queued=queued)
    return queued


def fanout_done(*, items_queued: int) -> None:
    """Add the refreshes a fan-out of the claimed cycle queued (shown by `/healthz/`)."""
    BeatRun.objects.filter(task=BeatRun.FANOUT).update(
        items_queued=F("items_queued") + items_queued
    )
