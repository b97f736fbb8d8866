"""Reads for the dashboard: a user's Items, accounts grouped by type, net worth.

Amounts in different currencies are never added together: every total is per currency.
"""

from __future__ import annotations

import calendar
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.db.models import F, QuerySet, Window
from django.db.models.functions import RowNumber, TruncDate
from django.utils import timezone

from .models import Account, BalanceSnapshot, NetWorthDay, PlaidItem, Profile

# Dashboard groups, in display order: (key, heading, Plaid account types in the group).
GROUPS: tuple[tuple[str, str, frozenset[str]], ...] = (
    ("depository", "Cash", frozenset({"depository"})),
    ("investment", "Investments", frozenset({"investment", "brokerage"})),
    ("credit", "Credit cards", frozenset({"credit"})),
    ("loan", "Loans", frozenset({"loan"})),
    ("other", "Other", frozenset()),
)
_GROUP_OF_TYPE = {t: key for key, _, types in GROUPS for t in types}


@dataclass
class AccountGroup:
    key: str
    label: str
    is_liability: bool
    # The accounts shown: all of them, or the largest when the group is cut short.
    accounts: list[Account] = field(default_factory=list)
    # Sum of `current` per currency (for liabilities: the amount owed), over all accounts.
    subtotals: list[Subtotal] = field(default_factory=list)
    count: int = 0  # open accounts in the group, shown or not

    @property
    def is_cut_short(self) -> bool:
        return self.count > len(self.accounts)


@dataclass
class Subtotal:
    currency: str
    currency_is_official: bool
    amount: Decimal


@dataclass(frozen=True, slots=True)
class AccountBalance:
    """What totals and groups need of an account: read as plain values, no model."""

    pk: int
    type: str
    currency: str
    currency_is_official: bool
    current: Decimal | None

    @property
    def is_liability(self) -> bool:
        return self.type in Account.LIABILITY_TYPES


@dataclass(frozen=True)
class CurrencyTotals:
    currency: str
    assets: Decimal
    liabilities: Decimal
    currency_is_official: bool

    @property
    def net_worth(self) -> Decimal:
        return self.assets - self.liabilities


def items_for_user(*, user: User) -> QuerySet[PlaidItem]:
    """Return `user`'s Items, by institution."""
    return PlaidItem.objects.filter(owner=user).order_by("institution_name", "pk")


def accounts_for_user(*, user: User) -> QuerySet[Account]:
    """Return `user`'s open accounts with their Items, in one query."""
    return (
        Account.objects.filter(item__owner=user, closed_at__isnull=True)
        .select_related("item")
        .order_by("item__institution_name", "item_id", "name", "mask")
    )


def account_balances(*, user: User) -> list[AccountBalance]:
    """Return the balance of every open account of `user` (one query, no model instances:
    a fraction of the cost of `accounts_for_user` per account)."""
    rows = Account.objects.filter(item__owner=user, closed_at__isnull=True).values_list(
        "pk", "type", "iso_currency_code", "unofficial_currency_code", "current"
    )
    return [
        AccountBalance(pk, type_, iso or unofficial, bool(iso), current)
        for pk, type_, iso, unofficial, current in rows.order_by()
    ]


def group_key(account: Account | AccountBalance) -> str:
    """Return the dashboard group an account belongs to."""
    return _GROUP_OF_TYPE.get(account.type, "other")


def group_accounts(
    accounts: Iterable[Account], *, main_currency: str = "USD"
) -> list[AccountGroup]:
    """Group accounts by type in display order, with per-currency subtotals; skip empty groups.

    Subtotals: official currencies first, `main_currency` leading; unofficial ones after.
    """
    accounts = list(accounts)
    groups = group_balances(accounts, main_currency=main_currency)
    attach_accounts(groups, accounts)
    return groups


def attach_accounts(groups: Iterable[AccountGroup], accounts: Iterable[Account]) -> None:
    """Set each group's shown accounts to those of `accounts` in it, in their order."""
    by_group: dict[str, list[Account]] = {}
    for account in accounts:
        by_group.setdefault(group_key(account), []).append(account)
    for group in groups:
        group.accounts = by_group.get(group.key, [])


def group_balances(
    balances: Iterable[Account | AccountBalance], *, main_currency: str = "USD"
) -> list[AccountGroup]:
    """Return the non-empty groups in display order with their counts and per-currency
    subtotals, but no accounts attached (see `group_accounts`, `largest_per_group`)."""
    groups = {
        key: AccountGroup(key=key, label=label, is_liability=key in ("credit", "loan"))
        for key, label, _ in GROUPS
    }
    subtotals: dict[tuple[str, str], Subtotal] = {}
    for account in balances:
        group = groups[group_key(account)]
        group.count += 1
        if account.current is None or not account.currency:
            continue
        subtotal = subtotals.get((group.key, account.currency))
        if subtotal is None:
            subtotal = Subtotal(account.currency, account.currency_is_official, Decimal(0))
            subtotals[(group.key, account.currency)] = subtotal
            group.subtotals.append(subtotal)
        subtotal.amount += account.current
    for group in groups.values():
        group.subtotals.sort(
            key=lambda s: (not s.currency_is_official, s.currency != main_currency, s.currency)
        )
    return [group for group in groups.values() if group.count]


def largest_per_group(balances: Iterable[AccountBalance], *, limit: int) -> dict[str, list[int]]:
    """Return, per group key, the pks of its `limit` accounts of largest |current| (missing
    balances last), so a long group shows what weighs most."""
    by_group: dict[str, list[AccountBalance]] = defaultdict(list)
    for balance in balances:
        by_group[group_key(balance)].append(balance)

    def weight(b: AccountBalance) -> tuple[bool, Decimal, int]:
        return (b.current is None, -abs(b.current or Decimal(0)), b.pk)

    return {
        key: [b.pk for b in sorted(members, key=weight)[:limit]]
        for key, members in by_group.items()
    }


def totals_by_currency(
    accounts: Iterable[Account | AccountBalance], *, main_currency: str = "USD"
) -> list[CurrencyTotals]:
    """Return assets, liabilities and net worth per currency.

    Plaid reports `current` of credit and loan accounts as the positive amount owed, so
    net worth = sum(current of other accounts) - sum(current of credit and loan accounts).
    Accounts without a `current` balance count for nothing. Official (ISO) currencies
    come first, `main_currency` leading; unofficial ones (crypto) after them.
    """
    assets: dict[str, Decimal] = defaultdict(Decimal)
    liabilities: dict[str, Decimal] = defaultdict(Decimal)
    official: dict[str, bool] = {}
    for account in accounts:
        if account.current is None or not account.currency:
            continue
        official[account.currency] = account.currency_is_official
        target = liabilities if account.is_liability else assets
        target[account.currency] += account.current
    totals = [
        CurrencyTotals(
            currency=currency,
            assets=assets.get(currency, Decimal(0)),
            liabilities=liabilities.get(currency, Decimal(0)),
            currency_is_official=is_official,
        )
        for currency, is_official in official.items()
    ]
    return sorted(
        totals,
        key=lambda t: (not t.currency_is_official, t.currency != main_currency, t.currency),
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
            or item_is_pending(item)
        )


def items_freshness(items: Sequence[PlaidItem]) -> list[ItemFreshness]:
    """Flag Items whose last successful refresh is older than BALANCE_STALE_AFTER."""
    cutoff = timezone.now() - timedelta(seconds=settings.BALANCE_STALE_AFTER)
    return [
        ItemFreshness(
            item=item, is_stale=item.last_refreshed_at is None or item.last_refreshed_at < cutoff
        )
        for item in items
    ]


def item_is_pending(item: PlaidItem) -> bool:
    """Whether a refresh of `item` was queued and has neither finished nor failed since.

    Bounded by BALANCE_REFRESH_PENDING_TTL: a task lost with its queue stops showing as
    pending instead of spinning until the next refresh.
    """
    requested = item.refresh_requested_at
    if requested is None or not item.is_active:
        return False
    if requested < timezone.now() - timedelta(seconds=settings.BALANCE_REFRESH_PENDING_TTL):
        return False
    done = [t for t in (item.last_refreshed_at, item.error_at) if t is not None]
    return not any(t >= requested for t in done)


# --- History: net worth over time, change since a date, per-account history --------------
#
# Daily points: the value of an account on day D is its last snapshot taken at or before
# the end of D (in the current time zone), carried forward; an account counts from its
# first snapshot until the day it was closed. Every function below costs a fixed number
# of queries, whatever the number of accounts or snapshots (no N+1): `history_accounts` 1,
# `net_worth_history` 2, `net_worth_series` 2, `net_worth_change` 1, `account_history` 2.
# Rows read: `net_worth_history` reads snapshots (accounts x days); `net_worth_series` and
# `net_worth_change` read the daily totals kept at refresh time (days x currencies).

RANGES: dict[str, tuple[str, int | None]] = {
    "30d": ("30 days", 30),
    "90d": ("90 days", 90),
    "1y": ("1 year", 365),
    "all": ("All", None),
}
DEFAULT_RANGE = "90d"
# Change periods: (label, months back, days back).
PERIODS: dict[str, tuple[str, int, int]] = {
    "1w": ("1 week", 0, 7),
    "1m": ("1 month", 1, 0),
    "3m": ("3 months", 3, 0),
    "1y": ("1 year", 12, 0),
}
DEFAULT_PERIOD = "1m"


@dataclass(frozen=True)
class HistoryAccount:
    """What history needs to know about an account (closed ones included)."""

    pk: int
    currency: str
    currency_is_official: bool
    is_liability: bool
    closed_on: date | None


@dataclass(frozen=True)
class HistoryPoint:
    day: date
    assets: Decimal
    liabilities: Decimal

    @property
    def net_worth(self) -> Decimal:
        return self.assets - self.liabilities


@dataclass(frozen=True)
class CurrencyHistory:
    currency: str
    currency_is_official: bool
    points: list[HistoryPoint]


@dataclass(frozen=True)
class CurrencyChange:
    """Net worth now against net worth at the end of `since` (per currency).

    `before` is None when no account in the currency had a balance recorded by then: the
    change is unknown, not "everything is new".
    """

    currency: str
    currency_is_official: bool
    since: date
    before: Decimal | None
    now: Decimal

    @property
    def amount(self) -> Decimal | None:
        return None if self.before is None else self.now - self.before

    @property
    def percent(self) -> Decimal | None:
        """Return the change in percent of |before|; None when unknown or `before` is 0."""
        if self.before is None or self.amount is None or not self.before:
            return None
        return (self.amount / abs(self.before) * 100).quantize(Decimal("0.1"))


@dataclass(frozen=True)
class AccountPoint:
    day: date
    available: Decimal | None
    current: Decimal | None
    limit: Decimal | None


def history_accounts(*, user: User) -> list[HistoryAccount]:
    """Return every account of `user` that history counts, closed ones too (one query)."""
    rows = Account.objects.filter(item__owner=user).values_list(
        "pk", "iso_currency_code", "unofficial_currency_code", "type", "closed_at"
    )
    return [
        HistoryAccount(
            pk=pk,
            currency=iso or unofficial,
            currency_is_official=bool(iso),
            is_liability=type_ in Account.LIABILITY_TYPES,
            closed_on=timezone.localdate(closed) if closed else None,
        )
        for pk, iso, unofficial, type_, closed in rows
        if iso or unofficial
    ]


def range_start(key: str, *, today: date | None = None) -> date | None:
    """Return the first day of chart range `key` (None for all history)."""
    days = RANGES[key][1]
    today = today or timezone.localdate()
    return None if days is None else today - timedelta(days=days - 1)


def _end_of(day: date) -> datetime:
    """Return the first instant after `day` in the current time zone."""
    return timezone.make_aware(datetime.combine(day + timedelta(days=1), time.min))


def _last_snapshots_before(
    account_ids: Iterable[int], moment: datetime
) -> QuerySet[BalanceSnapshot, tuple[int, Decimal | None, Decimal | None, Decimal | None]]:
    """Each account's last snapshot taken before `moment`, in one windowed query."""
    return (
        BalanceSnapshot.objects.filter(account_id__in=list(account_ids), taken_at__lt=moment)
        .annotate(
            rank=Window(RowNumber(), partition_by=[F("account_id")], order_by=F("taken_at").desc())
        )
        .filter(rank=1)
        .values_list("account_id", "available", "current", "limit")
    )


HISTORY_FIELDS = ("account_id", "day", "current")
ACCOUNT_FIELDS = ("account_id", "day", "available", "current", "limit")


def _daily_snapshots(
    account_ids: Iterable[int], start: datetime | None, end: datetime, *fields: str
) -> QuerySet[BalanceSnapshot, tuple[Any, ...]]:
    """Each account's last snapshot of each day in [start, end), by day, in one windowed
    query, as tuples of `fields` (`day` is the snapshot's date). Ask only for the columns
    needed: each decimal column costs a conversion per row."""
    qs = BalanceSnapshot.objects.filter(account_id__in=list(account_ids), taken_at__lt=end)
    if start is not None:
        qs = qs.filter(taken_at__gte=start)
    return (
        qs.annotate(day=TruncDate("taken_at"))
        .annotate(
            rank=Window(
                RowNumber(),
                partition_by=[F("account_id"), F("day")],
                order_by=F("taken_at").desc(),
            )
        )
        .filter(rank=1)
        .order_by("day", "account_id")
        .values_list(*fields)
    )


class RunningTotals:
    """Per-currency assets and liabilities of carried-forward account values.

    Each change costs O(1), so a day costs O(changes that day + currencies), not
    O(accounts): history over 1,000 accounts and a year stays cheap.
    """

    def __init__(self, by_pk: dict[int, HistoryAccount]) -> None:
        self.by_pk = by_pk
        self.values: dict[int, Decimal] = {}  # account pk -> its carried-forward `current`
        self.gone: set[int] = set()  # closed accounts: they count for nothing any more
        self.assets: dict[str, Decimal] = defaultdict(Decimal)
        self.liabilities: dict[str, Decimal] = defaultdict(Decimal)
        self.counts: dict[str, int] = defaultdict(int)  # accounts with a value, per currency

    def set(self, pk: int, current: Decimal | None) -> None:
        if pk in self.gone:
            return
        account = self.by_pk[pk]
        target = self.liabilities if account.is_liability else self.assets
        old = self.values.pop(pk, None)
        if old is not None:
            target[account.currency] -= old
            self.counts[account.currency] -= 1
        if current is not None:
            self.values[pk] = current
            target[account.currency] += current
            self.counts[account.currency] += 1

    def close(self, pk: int) -> None:
        self.set(pk, None)
        self.gone.add(pk)

    def points(self, day: date) -> Iterator[tuple[str, HistoryPoint]]:
        for currency, count in self.counts.items():
            if count:
                yield (
                    currency,
                    HistoryPoint(
                        day=day,
                        assets=self.assets[currency],
                        liabilities=self.liabilities[currency],
                    ),
                )


def daily_running_totals(
    *, accounts: Sequence[HistoryAccount], start: date | None, end: date
) -> Iterator[tuple[date, RunningTotals]]:
    """Yield each day from `start` (None: the first snapshot's day) to `end` with the
    running per-currency totals at the end of that day, computed from snapshots.

    The same object is yielded every day: read it before asking for the next day. Two
    queries; snapshot rows are streamed, so memory stays O(accounts + currencies), but the
    cost is O(accounts x days) rows: the dashboard reads `net_worth_series` instead, and
    this serves `net_worth.net_worth_rebuild` and checks. An account closed on day D
    counts until D - 1 (gone by the end of D, as in today's totals).
    """
    by_pk = {a.pk: a for a in accounts}
    running = RunningTotals(by_pk)
    if start is not None:
        for pk, _available, current, _limit in _last_snapshots_before(by_pk, _end_of(start)):
            running.set(pk, current)
        daily = _daily_snapshots(by_pk, _end_of(start), _end_of(end), *HISTORY_FIELDS)
    else:
        daily = _daily_snapshots(by_pk, None, _end_of(end), *HISTORY_FIELDS)
    rows: Iterator[tuple[int, date, Decimal | None]] = daily.iterator(chunk_size=5000)
    pending = next(rows, None)
    if start is None:
        if pending is None:
            return
        start = pending[1]
    closings: dict[date, list[int]] = defaultdict(list)
    for account in accounts:
        if account.closed_on is not None:
            closings[max(account.closed_on, start)].append(account.pk)
    day = start
    while day <= end:
        while pending is not None and pending[1] <= day:
            running.set(pending[0], pending[2])
            pending = next(rows, None)
        for pk in closings.get(day, ()):
            running.close(pk)
        yield day, running
        day += timedelta(days=1)


def _ordered(histories: Iterable[CurrencyHistory], main_currency: str) -> list[CurrencyHistory]:
    """Order like `totals_by_currency`: official first, `main_currency` leading."""
    return sorted(
        histories,
        key=lambda h: (not h.currency_is_official, h.currency != main_currency, h.currency),
    )


def net_worth_history(
    *,
    accounts: Sequence[HistoryAccount],
    start: date | None,
    end: date | None = None,
    main_currency: str = "USD",
) -> list[CurrencyHistory]:
    """Return daily assets, liabilities and net worth per currency from `start` to `end`,
    computed from snapshots (see `daily_running_totals` for the cost).

    `start` None means from the first snapshot. A currency appears once any of its
    accounts has a snapshot on or before a charted day; days before that are left out of
    its series rather than shown as 0. Ordered like `totals_by_currency`.
    """
    series: dict[str, list[HistoryPoint]] = {}
    days = daily_running_totals(accounts=accounts, start=start, end=end or timezone.localdate())
    for day, running in days:
        for currency, point in running.points(day):
            series.setdefault(currency, []).append(point)
    official = {a.currency: a.currency_is_official for a in accounts}
    return _ordered(
        (
            CurrencyHistory(currency=c, currency_is_official=official[c], points=points)
            for c, points in series.items()
        ),
        main_currency,
    )


def _net_worth_days_before(
    *, user: User, day: date
) -> QuerySet[NetWorthDay, tuple[str, bool, Decimal, Decimal, int]]:
    """Each currency's last NetWorthDay row on or before `day`, in one windowed query."""
    return (
        NetWorthDay.objects.filter(user=user, day__lte=day)
        .annotate(rank=Window(RowNumber(), partition_by=[F("currency")], order_by=F("day").desc()))
        .filter(rank=1)
        .values_list("currency", "currency_is_official", "assets", "liabilities", "accounts")
    )


def net_worth_series(
    *, user: User, start: date | None, end: date | None = None, main_currency: str = "USD"
) -> list[CurrencyHistory]:
    """Return `user`'s daily net worth per currency from `start` (None: the first recorded
    day) to `end`, read from the daily totals kept at refresh time (NetWorthDay).

    The same series as `net_worth_history` over the user's accounts, at a cost in days x
    currencies, whatever the number of accounts: two queries (one without `start`).
    """
    end = end or timezone.localdate()
    # currency -> (official, assets, liabilities, accounts), carried forward day to day.
    state: dict[str, tuple[bool, Decimal, Decimal, int]] = {}
    rows = NetWorthDay.objects.filter(user=user, day__lte=end)
    if start is not None:
        for currency, official, assets, liabilities, count in _net_worth_days_before(
            user=user, day=start
        ):
            state[currency] = (official, assets, liabilities, count)
        rows = rows.filter(day__gt=start)
    by_day: dict[date, list[tuple[str, bool, Decimal, Decimal, int]]] = defaultdict(list)
    for currency, official, day, assets, liabilities, count in rows.values_list(
        "currency", "currency_is_official", "day", "assets", "liabilities", "accounts"
    ):
        by_day[day].append((currency, official, assets, liabilities, count))
    if start is None:
        if not by_day:
            return []
        start = min(by_day)
    series: dict[str, list[HistoryPoint]] = {}
    official_of: dict[str, bool] = {}
    day = start
    while day <= end:
        for currency, official, assets, liabilities, count in by_day.get(day, ()):
            state[currency] = (official, assets, liabilities, count)
        for currency, (official, assets, liabilities, count) in state.items():
            if count:
                official_of[currency] = official
                series.setdefault(currency, []).append(HistoryPoint(day, assets, liabilities))
        day += timedelta(days=1)
    return _ordered(
        (
            CurrencyHistory(currency=c, currency_is_official=official_of[c], points=points)
            for c, points in series.items()
        ),
        main_currency,
    )


def net_worth_change(
    *, user: User, totals: Sequence[CurrencyTotals], since: date
) -> list[CurrencyChange]:
    """Return, per currency of `totals`, net worth now against at the end of `since`, read
    from the daily totals (one query). A currency with no balance recorded by then has
    `before` None (unknown). Ordered like `totals`.
    """
    before = {
        currency: assets - liabilities
        for currency, _official, assets, liabilities, count in _net_worth_days_before(
            user=user, day=since
        )
        if count
    }
    return _changes(totals, since, before)


def _changes(
    totals: Sequence[CurrencyTotals], since: date, before: dict[str, Decimal]
) -> list[CurrencyChange]:
    """Return each currency of `totals` now against `before` (None where it has none)."""
    return [
        CurrencyChange(
            currency=t.currency,
            currency_is_official=t.currency_is_official,
            since=since,
            before=before.get(t.currency),
            now=t.net_worth,
        )
        for t in totals
    ]


def period_start(key: str, *, today: date | None = None) -> date:
    """Return the day whose closing net worth period `key` compares against.

    Months are calendar months, clamped to the month's last day (Mar 31 - 1m = Feb 28/29).
    """
    _label, months, days = PERIODS[key]
    today = today or timezone.localdate()
    if months:
        year, month = divmod(today.year * 12 + today.month - 1 - months, 12)
        last_day = calendar.monthrange(year, month + 1)[1]
        today = today.replace(year=year, month=month + 1, day=min(today.day, last_day))
    return today - timedelta(days=days)


def net_worth_change_from_history(
    *,
    histories: Sequence[CurrencyHistory],
    totals: Sequence[CurrencyTotals],
    since: date,
    start: date | None,
) -> list[CurrencyChange] | None:
    """Return `net_worth_change` read off `histories` computed from `start` (no query).

    None when `since` lies before `start` (ask `net_worth_change` then). A currency with
    no point on `since` had no balance recorded by then: its `before` is None.
    """
    if start is not None and since < start:
        return None
    at_since = {h.currency: p.net_worth for h in histories for p in h.points if p.day == since}
    return _changes(totals, since, at_since)


def group_label(key: str) -> str | None:
    """Return the heading of dashboard group `key` (None for an unknown key)."""
    return next((label for k, label, _ in GROUPS if k == key), None)


def accounts_in_group(*, user: User, key: str) -> QuerySet[Account]:
    """Return `user`'s open accounts of dashboard group `key`, by institution and name."""
    accounts = accounts_for_user(user=user)
    if key == "other":
        return accounts.exclude(type__in=_GROUP_OF_TYPE)
    types = next(types for k, _, types in GROUPS if k == key)
    return accounts.filter(type__in=types)


def account_for_user(*, user: User, pk: int) -> Account | None:
    """Return `user`'s account `pk` (closed ones too) with its Item, or None."""
    return Account.objects.select_related("item").filter(pk=pk, item__owner=user).first()


def account_history(
    *, account: Account, start: date | None, end: date | None = None
) -> list[AccountPoint]:
    """Return `account`'s daily balances from `start` (None: its first snapshot) to `end`.

    Two queries; days before its first snapshot are left out.
    """
    end = end or timezone.localdate()
    if account.closed_at is not None:
        end = min(end, timezone.localdate(account.closed_at))
    last: tuple[Decimal | None, Decimal | None, Decimal | None] | None = None
    if start is not None:
        for _pk, available, current, limit in _last_snapshots_before([account.pk], _end_of(start)):
            last = (available, current, limit)
        rows = list(_daily_snapshots([account.pk], _end_of(start), _end_of(end), *ACCOUNT_FIELDS))
    else:
        rows = list(_daily_snapshots([account.pk], None, _end_of(end), *ACCOUNT_FIELDS))
        if not rows:
            return []
        start = rows[0][1]
    by_day = {day: (available, current, limit) for _pk, day, available, current, limit in rows}
    points: list[AccountPoint] = []
    day = start
    while day <= end:
        last = by_day.get(day, last)
        if last is not None:
            points.append(AccountPoint(day, *last))
        day += timedelta(days=1)
    return points


def main_currency_for(*, user: User) -> str:
    """Return `user`'s main currency (USD until they choose one)."""
    currency = Profile.objects.filter(user=user).values_list("main_currency", flat=True).first()
    return currency or "USD"


def currencies_for_user(*, user: User) -> list[str]:
    """Return the official currencies of `user`'s open accounts, sorted."""
    return sorted(
        set(
            Account.objects.filter(item__owner=user, closed_at__isnull=True)
            .exclude(iso_currency_code="")
            .values_list("iso_currency_code", flat=True)
        )
    )
