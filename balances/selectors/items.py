"""Reads of Items: their freshness for the pages, and for operators: find one by
reference, the stale/erroring/re-login lists, an Item's status history."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from django.db import connection
from django.db.models import Q, QuerySet

from balances.domain.duplicates import connection_label
from balances.models import (
    Account,
    PlaidCall,
    PlaidItem,
    erroring_q,
    login_required_q,
    pending_cutoff,
    refresh_pending,
    stale_q,
)
from balances.selectors.raw import aware, table


@dataclass(frozen=True)
class ItemFreshness:
    item: PlaidItem
    is_stale: bool
    # The name the pages show: with its accounts' masks when another of the owner's
    # connections has the same name ("Chase (…0000, …3333)").
    label: str = ""
    # Whether it holds an account another of the owner's connections holds too (a bank
    # linked twice): each such account counts once until the owner keeps one connection.
    shares_accounts: bool = False

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


def items_freshness(
    items: Sequence[PlaidItem], *, mask_rows: Iterable[MaskRow] | None = None
) -> list[ItemFreshness]:
    """Flag Items whose last successful refresh is older than BALANCE_STALE_AFTER; name
    apart connections at the same institution (`connection_labels`). Cost: one query
    when two of `items` are at the same institution of the same owner, else none; none
    when `mask_rows` (the open accounts of `twin_items(items)`) are given."""
    labels, shared = connection_labels(items, mask_rows=mask_rows)
    return [
        ItemFreshness(
            item=item,
            is_stale=item.is_stale,
            label=labels.get(item.pk, item.display_name),
            shares_accounts=item.pk in shared,
        )
        for item in items
    ]


# An open account of a connection, as labels read it: (Item pk, mask, the Item pk of the
# account it is a copy of or None), in the order of (mask, pk).
MaskRow = tuple[int, str, int | None]


def twin_items(items: Sequence[PlaidItem]) -> list[PlaidItem]:
    """Return the Items of `items` whose owner has another of them by the same name (the
    same institution linked twice). No query."""
    seen: dict[tuple[int, str], int] = {}
    for item in items:
        key = (item.owner_id, item.display_name)
        seen[key] = seen.get(key, 0) + 1
    return [i for i in items if seen[(i.owner_id, i.display_name)] > 1]


def connection_labels(
    items: Sequence[PlaidItem], *, mask_rows: Iterable[MaskRow] | None = None
) -> tuple[dict[int, str], set[int]]:
    """Return (Item pk -> its name with its open accounts' masks, for `twin_items(items)`;
    the pks of those holding an account another connection holds too). One query, and
    none without such Items or when `mask_rows` (their open accounts, read along with
    something else by the caller) are given."""
    twins = twin_items(items)
    if not twins:
        return {}, set()
    if mask_rows is None:
        mask_rows = (
            Account.objects.filter(item__in=twins, closed_at__isnull=True)
            .values_list("item_id", "mask", "duplicate_of__item_id")
            .order_by("mask", "pk")
        )
    masks: dict[int, list[str]] = {i.pk: [] for i in twins}
    shared: set[int] = set()
    for item_id, mask, original_item in mask_rows:
        if item_id not in masks:
            continue  # an account of another connection (the caller read more)
        if mask:
            masks[item_id].append(mask)
        if original_item is not None:
            shared.update((item_id, original_item))
    return {i.pk: connection_label(i.display_name, masks[i.pk]) for i in twins}, shared


def items_sharing_accounts(*, item: PlaidItem) -> list[PlaidItem]:
    """Return the owner's other connections that share an open account with `item` (a
    bank linked twice), oldest first."""
    # Its copies point at theirs, or theirs at its accounts.
    shared = Account.objects.filter(
        Q(duplicate_of__item=item) | Q(duplicates__item=item), closed_at__isnull=True
    ).exclude(item=item)
    return list(
        PlaidItem.objects.filter(owner_id=item.owner_id, pk__in=shared.values("item_id"))
        .distinct()
        .order_by("created_at", "pk")
    )


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


def item_by_id(*, item_id: int) -> PlaidItem | None:
    """Return the Item `item_id`, or None if there is none.

    Read at the start of every refresh: plain SQL, because the ORM's `filter().first()`
    was 8 % of a worker's GIL samples at production shape (bench/production.py, py-spy),
    most of it building the query."""
    # Only the model's own name, quoted; the id is a parameter.
    sql = f"SELECT * FROM {table(PlaidItem)} WHERE id = %s"  # noqa: S608
    return next(iter(PlaidItem.objects.raw(sql, [item_id])), None)


def other_refresh_pending(*, user_id: int, item_id: int, now: datetime | None = None) -> bool:
    """Return whether another of the user's Items than `item_id` has a refresh pending
    (queued or running: `PlaidItem.is_refresh_pending`).

    Run after every refresh (the last of a user's burst evaluates their alerts): one plain
    SELECT of the Items with a request, the rule applied to their values here
    (`models.refresh_pending`); through the ORM the same read cost about ten times the CPU.
    """
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT status, refresh_requested_at, last_refreshed_at, error_at "  # noqa: S608
            f"FROM {table(PlaidItem)} "
            f"WHERE owner_id = %s AND id <> %s AND refresh_requested_at IS NOT NULL",
            [user_id, item_id],
        )
        rows = cursor.fetchall()
    cutoff = pending_cutoff(now)
    return any(
        refresh_pending(
            requested_at=aware(requested),
            status=status,
            last_refreshed_at=aware(refreshed),
            error_at=aware(failed),
            cutoff=cutoff,
        )
        for status, requested, refreshed, failed in rows
    )
