"""Reads of Items: their freshness for the pages, and for operators: find one by
reference, the stale/erroring/re-login lists, an Item's status history."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from django.db.models import QuerySet

from balances.models import (
    PlaidCall,
    PlaidItem,
    erroring_q,
    login_required_q,
    stale_q,
)


@dataclass(frozen=True)
class ItemFreshness:
    item: PlaidItem
    is_stale: bool

    @property
    def needs_attention(self) -> bool:
        """Whether the connection is anything but up to date: failing, stale, expiring,
        with new accounts, or refreshing now. The dashboard always shows these."""
        item = self.item
        return (
            self.is_stale
            or item.status != PlaidItem.Status.HEALTHY
            or bool(item.error_code or item.warning_code)
            or item.new_accounts_available
            or item.is_refresh_pending
        )


def items_freshness(items: Sequence[PlaidItem]) -> list[ItemFreshness]:
    """Flag Items whose last successful refresh is older than BALANCE_STALE_AFTER."""
    return [ItemFreshness(item=item, is_stale=item.is_stale) for item in items]


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
