"""Beat's alert sweep: connections not refreshed for too long, consents whose expiry comes
within the notice as time passes, deliveries whose task was lost (a worker killed before it
queued them, a broker down at the time)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from balances.models import AlertDelivery, AlertState, PlaidItem
from balances.services.alerts import evaluate, record

# A delivery this long past its time, unclaimed, has lost its task: queue it again.
LOST_AFTER = timedelta(minutes=5)


@dataclass(frozen=True, slots=True)
class SweepResult:
    users_evaluated: int
    deliveries_queued: int


def alerts_sweep(*, now: datetime | None = None) -> SweepResult:
    """Evaluate the users with an active connection not refreshed for longer than
    ALERT_NOT_REFRESHED_HOURS (or an alert of that kind still holding, to re-arm it) or
    whose consent now ends within the expiry notice (Plaid warned of it, no refresh or
    webhook since: the expiry time is known, so time alone makes it due) while its alert
    does not hold yet, and queue again the deliveries overdue by LOST_AFTER. Cost: four
    queries, then one evaluation per such user and one task per lost delivery."""
    now = now or timezone.now()
    before = now - timedelta(hours=settings.ALERT_NOT_REFRESHED_HOURS)
    overdue = (
        PlaidItem.objects.active()
        .filter(
            Q(last_refreshed_at__lt=before)
            | Q(last_refreshed_at__isnull=True, created_at__lt=before)
        )
        .values_list("owner_id", flat=True)
    )
    holding = AlertState.objects.filter(holding=True, key__endswith=":stale").values_list(
        "owner_id", flat=True
    )
    users = sorted(set(overdue) | set(holding) | _expiry_due(now))
    for user_id in users:
        evaluate.user_alerts_evaluate(user_id=user_id, now=now)
    lost = list(
        AlertDelivery.objects.filter(
            state__in=AlertDelivery.UNSENT_STATES, next_attempt_at__lt=now - LOST_AFTER
        ).filter(Q(claimed_until__isnull=True) | Q(claimed_until__lte=now))
    )
    record.deliveries_queue(deliveries=lost)
    return SweepResult(users_evaluated=len(users), deliveries_queued=len(lost))


def _expiry_due(now: datetime) -> set[int]:
    """The owners of Items whose consent expiry is due for its alert at `now` and whose
    "expiring" alert does not hold yet."""
    due = PlaidItem.objects.filter(warning_code__in=evaluate.EXPIRY_CODES).filter(
        Q(expires_at__isnull=True) | Q(expires_at__lte=now + evaluate.EXPIRY_NOTICE)
    )
    candidates = list(due.values_list("pk", "owner_id"))
    if not candidates:
        return set()
    keys = {f"item:{pk}:expiring": owner for pk, owner in candidates}
    held = set(AlertState.objects.filter(key__in=keys, holding=True).values_list("key", flat=True))
    return {owner for key, owner in keys.items() if key not in held}
