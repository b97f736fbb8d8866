"""Writes of the daily net-worth totals (NetWorthDay), the dashboard's history.

The totals are derived: every write that changes a user's balances, closes an account or
removes history calls one of these in its transaction, so the dashboard reads days x
currencies rows instead of summing accounts x days snapshots on every request.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from . import selectors
from .models import Account, NetWorthDay

_UPSERT = {
    "update_conflicts": True,
    "unique_fields": ["user", "currency", "day"],
    "update_fields": ["currency_is_official", "assets", "liabilities", "accounts"],
}


def _lock_user(user_id: int) -> None:
    """Serialize writers of one user's totals until the transaction ends (a row lock on
    PostgreSQL; SQLite serializes all writers anyway): two Items refreshed at once would
    otherwise each sum the other's balances from before its commit."""
    list(get_user_model().objects.select_for_update().filter(pk=user_id).values_list("pk"))


def net_worth_record(*, user_id: int, day: date | None = None) -> int:
    """Store the user's assets and liabilities per currency for `day` (default today) from
    their accounts' balances now; return the number of currencies written.

    Call in the transaction that changed the accounts, after the change. Every currency
    any of the user's accounts ever had gets a row, so one whose last account closed is
    marked gone (`accounts` 0) rather than carried forward. Cost: a lock, one query over
    the user's accounts (sums are exact Decimals, added here, never by the database's
    floats) and one upsert.
    """
    day = day or timezone.localdate()
    with transaction.atomic():
        _lock_user(user_id)
        assets: dict[str, Decimal] = defaultdict(Decimal)
        liabilities: dict[str, Decimal] = defaultdict(Decimal)
        counts: dict[str, int] = defaultdict(int)
        official: dict[str, bool] = {}
        rows = Account.objects.filter(item__owner_id=user_id).values_list(
            "iso_currency_code", "unofficial_currency_code", "type", "current", "closed_at"
        )
        for iso, unofficial, type_, current, closed_at in rows:
            currency = iso or unofficial
            if not currency:
                continue
            official[currency] = bool(iso)
            counts[currency] += 0
            if current is None or closed_at is not None:
                continue
            counts[currency] += 1
            target = liabilities if type_ in Account.LIABILITY_TYPES else assets
            target[currency] += current
        NetWorthDay.objects.bulk_create(
            [
                NetWorthDay(
                    user_id=user_id,
                    currency=currency,
                    currency_is_official=is_official,
                    day=day,
                    assets=assets[currency],
                    liabilities=liabilities[currency],
                    accounts=counts[currency],
                )
                for currency, is_official in official.items()
            ],
            **_UPSERT,  # type: ignore[arg-type]
        )
    return len(official)


def net_worth_rebuild(*, user_id: int, end: date | None = None) -> int:
    """Replace the user's daily totals with ones computed from their snapshots, up to
    `end` (default today); return the number of rows written.

    For history that changed under the totals: an unlinked Item's snapshots deleted, data
    loaded from a backup or written before this table existed, or TIME_ZONE changed (days
    are local days). A row is written where a currency's figures differ from the day
    before. Cost: O(accounts x days) snapshot rows streamed, like the old dashboard read.
    """
    end = end or timezone.localdate()
    user = get_user_model()(pk=user_id)
    made: list[NetWorthDay] = []
    with transaction.atomic():
        _lock_user(user_id)
        NetWorthDay.objects.filter(user_id=user_id).delete()
        accounts = selectors.history_accounts(user=user)
        official = {a.currency: a.currency_is_official for a in accounts}
        last: dict[str, tuple[Decimal, Decimal, int]] = {}
        for day, running in selectors.daily_running_totals(accounts=accounts, start=None, end=end):
            for currency, count in running.counts.items():
                figures = (running.assets[currency], running.liabilities[currency], count)
                if last.get(currency) == figures:
                    continue
                last[currency] = figures
                made.append(
                    NetWorthDay(
                        user_id=user_id,
                        currency=currency,
                        currency_is_official=official[currency],
                        day=day,
                        assets=figures[0],
                        liabilities=figures[1],
                        accounts=count,
                    )
                )
        NetWorthDay.objects.bulk_create(made, batch_size=2000)
    return len(made)


def net_worth_rebuild_all() -> tuple[int, int]:
    """Rebuild the daily totals of every user with accounts; return (users, rows written).

    One transaction per user, so a large install never holds every lock at once.
    """
    user_ids = Account.objects.order_by().values_list("item__owner_id", flat=True).distinct()
    users = rows = 0
    for user_id in list(user_ids):
        rows += net_worth_rebuild(user_id=user_id)
        users += 1
    return users, rows
