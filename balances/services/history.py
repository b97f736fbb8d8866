"""Retention of balance history and of the Plaid call log.

Snapshots are append-only; `snapshots_prune` is the one place that deletes them. It keeps,
for every account and every day (in the current time zone, as the history charts count
days), the day's last snapshot (the closing balance), so daily history is unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F, Window
from django.db.models.functions import RowNumber, TruncDate
from django.utils import timezone

from balances.models import BalanceSnapshot, PlaidCall

# Rows deleted per statement: bounds memory and lock time on large tables.
BATCH_SIZE = 5000


@dataclass(frozen=True, slots=True)
class PruneResult:
    cutoff: datetime
    snapshots_deleted: int
    calls_deleted: int


def prune_cutoff(*, days: int | None = None, now: datetime | None = None) -> datetime:
    """Return the start of the local day `days` (default BALANCE_HISTORY_DETAIL_DAYS) ago."""
    days = settings.BALANCE_HISTORY_DETAIL_DAYS if days is None else days
    if days < 0:
        raise ValueError("The number of days of detail to keep cannot be negative.")
    local = timezone.localtime(now or timezone.now(), timezone.get_default_timezone())
    return local.replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=days)


def snapshots_prune(
    *, days: int | None = None, now: datetime | None = None, dry_run: bool = False
) -> PruneResult:
    """Delete intra-day snapshots taken before the cutoff, keeping each account's last one
    per day; delete call-log rows older than the cutoff. Return what was (or would be)
    deleted.

    Cost: one windowed query per batch of BATCH_SIZE rows to delete.
    """
    cutoff = prune_cutoff(days=days, now=now)
    extra = (
        BalanceSnapshot.objects.filter(taken_at__lt=cutoff)
        .annotate(day=TruncDate("taken_at"))
        .annotate(
            rank=Window(
                RowNumber(),
                partition_by=[F("account_id"), F("day")],
                order_by=[F("taken_at").desc(), F("pk").desc()],
            )
        )
        .filter(rank__gt=1)
        .values_list("pk", flat=True)
    )
    old_calls = PlaidCall.objects.filter(called_at__lt=cutoff)
    if dry_run:
        return PruneResult(cutoff, extra.count(), old_calls.count())
    snapshots = calls = 0
    while True:
        pks = list(extra[:BATCH_SIZE])
        if not pks:
            break
        with transaction.atomic():
            snapshots += BalanceSnapshot.objects.filter(pk__in=pks).delete()[0]
    while True:
        call_pks = list(old_calls.values_list("pk", flat=True)[:BATCH_SIZE])
        if not call_pks:
            break
        calls += PlaidCall.objects.filter(pk__in=call_pks).delete()[0]
    return PruneResult(cutoff, snapshots, calls)
