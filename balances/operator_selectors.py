"""Reads for operators: find an Item by reference, stale/erroring lists, status history."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Q, QuerySet
from django.utils import timezone

from .models import PlaidCall, PlaidItem

# Call-log rows read to build an Item's status history (newest first; one indexed query).
HISTORY_CALLS = 500


class ItemNotFound(Exception):
    """No Item has this primary key or Plaid item_id."""


def item_by_reference(reference: str) -> PlaidItem:
    """Return the Item whose Plaid item_id, or else primary key, is `reference`."""
    reference = reference.strip()
    item = PlaidItem.objects.select_related("owner").filter(plaid_item_id=reference).first()
    if item is None and reference.isdigit():
        item = PlaidItem.objects.select_related("owner").filter(pk=int(reference)).first()
    if item is None:
        raise ItemNotFound(f"No Item has the id or Plaid item_id {reference!r}.")
    return item


def stale_q(*, now: datetime | None = None) -> Q:
    """Items whose last successful refresh is older than BALANCE_STALE_AFTER (or never)."""
    cutoff = (now or timezone.now()) - timedelta(seconds=settings.BALANCE_STALE_AFTER)
    return Q(last_refreshed_at__isnull=True) | Q(last_refreshed_at__lt=cutoff)


def erroring_q() -> Q:
    """Items in error, or healthy but with an error recorded (e.g. old balances kept)."""
    return Q(status=PlaidItem.Status.ERROR) | (
        Q(status=PlaidItem.Status.HEALTHY) & ~Q(error_code="")
    )


def login_required_q() -> Q:
    """Items that need their owner to log in again now, or before consent runs out."""
    return Q(status=PlaidItem.Status.LOGIN_REQUIRED) | ~Q(warning_code="")


def items_matching(
    *, stale: bool = False, erroring: bool = False, login_required: bool = False
) -> QuerySet[PlaidItem]:
    """Return Items matching any chosen condition, oldest refresh first (all without one)."""
    items = PlaidItem.objects.select_related("owner").order_by("last_refreshed_at", "pk")
    chosen = [
        q()
        for flag, q in (
            (stale, stale_q),
            (erroring, erroring_q),
            (login_required, login_required_q),
        )
        if flag
    ]
    if not chosen:
        return items
    condition = chosen[0]
    for q in chosen[1:]:
        condition |= q
    return items.filter(condition)


@dataclass(frozen=True, slots=True)
class StatusPeriod:
    """A run of consecutive Plaid calls of an Item with the same outcome."""

    outcome: str  # "ok" or a Plaid error code
    since: datetime
    until: datetime
    calls: int


def item_status_history(*, item: PlaidItem, limit: int = HISTORY_CALLS) -> list[StatusPeriod]:
    """Return the Item's outcomes over time, newest first, from its Plaid call log.

    Consecutive calls with the same outcome collapse into one period, so an Item that
    failed with ITEM_LOGIN_REQUIRED for a week between healthy stretches shows three rows.
    Reads at most `limit` call-log rows (one query).
    """
    calls = PlaidCall.objects.filter(item=item).order_by("-called_at", "-pk")[:limit]
    periods: list[StatusPeriod] = []
    for called_at, code in calls.values_list("called_at", "error_code"):
        outcome = code or "ok"
        if periods and periods[-1].outcome == outcome:
            last = periods[-1]
            periods[-1] = StatusPeriod(outcome, called_at, last.until, last.calls + 1)
        else:
            periods.append(StatusPeriod(outcome, called_at, called_at, 1))
    return periods
