"""Record when beat and its fan-out last ran (read by `/healthz/`)."""

from __future__ import annotations

from django.utils import timezone

from .models import BeatRun

# BeatRun.task of beat's fan-out, and of beat's own start (see finance/celery.py).
FANOUT_TASK = "balances.tasks.refresh_all_items"
BEAT_STARTED = "celery beat started"


def beat_run_record(*, task: str, items_queued: int = 0) -> BeatRun:
    """Record that `task` ran now (one upsert, no history)."""
    run, _ = BeatRun.objects.update_or_create(
        task=task, defaults={"ran_at": timezone.now(), "items_queued": items_queued}
    )
    return run
