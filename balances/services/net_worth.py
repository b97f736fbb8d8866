"""Writes of the daily net-worth totals (NetWorthDay), the dashboard's history.

The totals are derived: every write that changes a user's balances or closes an account
adds its change (`net_worth_add`; manual accounts' values through
`manual_accounts`), and removing history rebuilds them from the snapshots and manual
values (`net_worth_rebuild`), in the same transaction, so the dashboard reads days x currencies
rows instead of summing accounts x days snapshots on every request.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from django.contrib.auth import get_user_model
from django.db import IntegrityError, connections, router, transaction
from django.utils import timezone

from balances.domain.totals import CurrencySum, sums_by_currency
from balances.models import Account, ManualAccount, NetWorthDay
from balances.selectors import history

logger = logging.getLogger(__name__)


def _lock_user(user_id: int) -> None:
    """Serialize rebuilds of one user's totals until the transaction ends (a row lock on
    PostgreSQL; SQLite serializes all writers anyway)."""
    list(get_user_model().objects.select_for_update().filter(pk=user_id).values_list("pk"))


@dataclass(frozen=True, slots=True)
class AccountState:
    """What an account adds to its owner's totals: nothing unless counted (open, not a
    copy of another connection's account: `Account.is_counted`) with a balance."""

    currency: str
    currency_is_official: bool
    is_liability: bool
    current: Decimal | None  # None when closed or without a balance

    @classmethod
    def of(cls, account: Account) -> AccountState:
        current = account.current if account.is_counted else None
        return cls(account.currency, account.currency_is_official, account.is_liability, current)


def net_worth_add(
    *,
    user_id: int,
    before: Iterable[AccountState],
    after: Iterable[AccountState],
    day: date | None = None,
) -> int:
    """Add to the user's totals of `day` (default today) the change of some of their
    accounts from `before` to `after` (new accounts: absent from `before`); return the
    number of currencies changed.

    Call in the transaction that changed the accounts. A day without a row starts from the
    user's last row before it (carried forward); rows of later days get the change too.
    Cost: nothing when the figures did not change, else one UPDATE per changed currency
    (two queries more on a currency's first change of the day); O(accounts changed),
    whatever the user's number of accounts.
    Concurrent writers add up: the UPDATE is atomic, and a row created at the same time
    by another writer is updated instead.
    """
    day = day or timezone.localdate(timezone=timezone.get_default_timezone())
    old, new = sums_by_currency(before), sums_by_currency(after)
    changed = 0
    for currency in sorted(old.keys() | new.keys()):  # one lock order for every writer
        now = new.get(currency) or CurrencySum(False)
        was = old.get(currency) or CurrencySum(False)
        delta = (now.assets - was.assets, now.liabilities - was.liabilities)
        count = now.accounts - was.accounts
        if any(delta) or count:
            official = now.currency_is_official or was.currency_is_official
            _add_to_day(user_id, currency, official, day, *delta, count)
            changed += 1
    return changed


def _add_to_day(
    user_id: int,
    currency: str,
    official: bool,
    day: date,
    assets: Decimal,
    liabilities: Decimal,
    count: int,
) -> None:
    """Add the change to the user's row of `day` in `currency` and to later days' rows.

    Raw SQL (the ORM's UPDATEs, SELECT, savepoint and INSERT compiled for more CPU than
    the statements cost: bench/production.py's profile): one UPDATE of the day and the
    later days, which says whether the day's row was there (two UPDATEs before: each
    statement costs about 0.25 ms of a worker's CPU); when the day has no row yet, one
    upsert: the new row starts from the user's last row before it (carried forward) plus
    the change, and a row a concurrent writer inserted first gets the change added instead
    (ON CONFLICT, atomic on PostgreSQL and SQLite alike), in a savepoint: a row the CHECK
    refuses (fewer than 0 accounts, for accounts whose totals were never recorded) leaves
    the day as it was.
    """
    connection = connections[router.db_for_write(NetWorthDay)]
    quote = connection.ops.quote_name
    table = quote(NetWorthDay._meta.db_table)
    col = {f.name: quote(str(f.column)) for f in NetWorthDay._meta.concrete_fields}
    a, li, n = col["assets"], col["liabilities"], col["accounts"]
    user, cur, d = col["user"], col["currency"], col["day"]
    prep = connection.ops.adapt_decimalfield_value
    delta: list[Any] = [prep(assets), prep(liabilities), count]
    when = connection.ops.adapt_datefield_value(day)
    # Only the model's own names, quoted; every value is a parameter.
    increment = f"{a} = {a} + %s, {li} = {li} + %s, {n} = {n} + %s"
    # The day and the days after it, saying for each row whether it is the day's own.
    days = (
        f"UPDATE {table} SET {increment} WHERE {user} = %s AND {cur} = %s AND {d} >= %s "  # noqa: S608
        f"RETURNING CASE WHEN {d} = %s THEN 1 ELSE 0 END"
    )
    base = f"(SELECT {{}} FROM {table} WHERE {user} = %s AND {cur} = %s AND {d} < %s ORDER BY {d} DESC LIMIT 1)"  # noqa: S608, E501
    carried = ", ".join(f"COALESCE({base.format(c)}, 0) + %s" for c in (a, li, n))
    # `WHERE 1 = 1`: SQLite parses `INSERT ... SELECT ... ON CONFLICT` only with a WHERE.
    upsert = (
        f"INSERT INTO {table} ({user}, {cur}, {col['currency_is_official']}, {d}, {a}, {li}, {n}) "
        f"SELECT %s, %s, %s, %s, {carried} WHERE 1 = 1 "
        f"ON CONFLICT ({user}, {cur}, {d}) DO UPDATE SET "
        f"{a} = {table}.{a} + %s, {li} = {table}.{li} + %s, {n} = {table}.{n} + %s"
    )
    key: list[Any] = [user_id, currency, when]
    carried_params = [p for value in delta for p in (*key, value)]
    with connection.cursor() as cursor:
        # Days after `day` already recorded carry this change too: a store whose clock read
        # 23:59:59 may commit after another worker started the next day from the day before.
        cursor.execute(days, [*delta, *key, when])
        if any(own for (own,) in cursor.fetchall()):
            return
    try:
        # A savepoint, on a user's first change of the day only: a new row the CHECK
        # refuses (fewer than 0 accounts: totals never recorded for accounts that existed)
        # must not end the caller's transaction; the day is then left as it was.
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(upsert, [*key[:2], official, when, *carried_params, *delta])
    except IntegrityError:
        logger.warning(
            "User %s: no %s totals for %s (none recorded before)", user_id, currency, day
        )


def net_worth_rebuild(*, user_id: int, end: date | None = None) -> int:
    """Replace the user's daily totals with ones computed from their snapshots and the
    values of their accounts entered by hand, up to `end` (default today); return the
    number of rows written.

    For history that changed under the totals: an unlinked Item's snapshots deleted, data
    loaded from a backup or written before this table existed, or TIME_ZONE changed (days
    are local days). A row is written where a currency's figures differ from the day
    before. Cost: O(accounts x days) snapshot rows streamed, like the old dashboard read.
    """
    end = end or timezone.localdate(timezone=timezone.get_default_timezone())
    user = get_user_model()(pk=user_id)
    made: list[NetWorthDay] = []
    with transaction.atomic():
        _lock_user(user_id)
        NetWorthDay.objects.filter(user_id=user_id).delete()
        accounts = history.history_accounts(user=user)
        official = {a.currency: a.currency_is_official for a in accounts}
        last: dict[str, tuple[Decimal, Decimal, int]] = {}
        for day, running in history.daily_running_totals(accounts=accounts, start=None, end=end):
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
    """Rebuild the daily totals of every user with accounts (linked or entered by hand);
    return (users, rows written).

    One transaction per user, so a large install never holds every lock at once.
    """
    linked = Account.objects.order_by().values_list("item__owner_id", flat=True).distinct()
    manual = ManualAccount.objects.order_by().values_list("owner_id", flat=True).distinct()
    users = rows = 0
    for user_id in sorted(set(linked) | set(manual)):
        rows += net_worth_rebuild(user_id=user_id)
        users += 1
    return users, rows
