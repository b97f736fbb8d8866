"""Reads of history: net worth per currency by day, its change since a date, and one
account's daily balances.

Daily points: the value of an account on day D is its last snapshot taken at or before
the end of D (in the current time zone), carried forward; an account counts from its
first snapshot until the day it was closed. An account entered by hand (ManualAccount,
keyed "m<pk>") counts from its first value's day, each value until its next one. Every
function here costs a fixed number of queries, whatever the number of accounts or
snapshots (no N+1): `history_accounts` 2, `net_worth_history` 3, `net_worth_series` 2,
`net_worth_change` 1, `account_history` 2.
Rows read: `net_worth_history` reads snapshots (accounts x days); `net_worth_series` and
`net_worth_change` read the daily totals kept at refresh time (days x currencies).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from django.contrib.auth.models import User
from django.db.models import F, Q, QuerySet, Window
from django.db.models.functions import RowNumber, TruncDate
from django.utils import timezone

from balances.domain.totals import (
    AccountPoint,
    CurrencyChange,
    CurrencyHistory,
    CurrencySum,
    CurrencyTotals,
    HistoryAccount,
    HistoryPoint,
    RunningTotals,
    ordered,
)
from balances.models import Account, BalanceSnapshot, ManualAccount, ManualValue, NetWorthDay
from balances.selectors.accounts import HouseholdCopy, household_copies, household_copy_pks
from balances.selectors.households import (
    account_q,
    chosen_account_q,
    chosen_manual_q,
    manual_q,
    whole_users_q,
)

MANUAL_KEY_PREFIX = "m"


def history_accounts(*, user: User, household: bool = False) -> list[HistoryAccount]:
    """Return every account of `user` (with `household`, and those shared with them) that
    history counts, closed ones too, never a copy of another connection's account (in the
    household view, nor one counted under another member's connection), and the accounts
    entered by hand (keyed "m<pk>"); two queries, three for the household view."""
    linked = account_q(user=user, household=household) & Q(duplicate_of__isnull=True)
    if household:
        linked &= ~Q(pk__in=household_copy_pks(user=user, household=True))
    return _history_accounts(linked, manual_q(user=user, household=household))


def _history_accounts(from_plaid: Q, by_hand: Q) -> list[HistoryAccount]:
    """The Accounts matching `from_plaid` and the ManualAccounts matching `by_hand`, as
    HistoryAccounts (keyed "m<pk>" for the latter); two queries."""
    rows = Account.objects.filter(from_plaid).values_list(
        "pk", "iso_currency_code", "unofficial_currency_code", "type", "closed_at"
    )
    linked = [
        HistoryAccount(
            pk=pk,
            currency=iso or unofficial,
            currency_is_official=bool(iso),
            is_liability=type_ in Account.LIABILITY_TYPES,
            closed_on=timezone.localdate(closed, timezone.get_default_timezone())
            if closed
            else None,
        )
        for pk, iso, unofficial, type_, closed in rows
        if iso or unofficial
    ]
    manual = ManualAccount.objects.filter(by_hand).values_list(
        "pk", "iso_currency_code", "unofficial_currency_code", "kind"
    )
    return linked + [
        HistoryAccount(
            pk=f"{MANUAL_KEY_PREFIX}{pk}",
            currency=iso or unofficial,
            currency_is_official=bool(iso),
            is_liability=kind == ManualAccount.Kind.LIABILITY,
            closed_on=None,
        )
        for pk, iso, unofficial, kind in manual.order_by()
        if iso or unofficial
    ]


def _manual_values(keys: Iterable[int | str], end: date) -> list[tuple[str, date, Decimal]]:
    """The values of the manual accounts among `keys` up to `end`, by day then entry (one
    query; values are typed by people, so few)."""
    pks = [int(k[len(MANUAL_KEY_PREFIX) :]) for k in keys if isinstance(k, str)]
    if not pks:
        return []
    rows = (
        ManualValue.objects.filter(account_id__in=pks, as_of__lte=end)
        .order_by("as_of", "entered_at", "pk")
        .values_list("account_id", "as_of", "value")
    )
    return [(f"{MANUAL_KEY_PREFIX}{pk}", day, value) for pk, day, value in rows]


def _end_of(day: date) -> datetime:
    """Return the first instant after `day` in the current time zone."""
    return timezone.make_aware(datetime.combine(day + timedelta(days=1), time.min))


def _linked(account_ids: Iterable[int | str]) -> list[int]:
    """The Plaid accounts' ids among history keys (manual ones are "m<pk>")."""
    return [k for k in account_ids if isinstance(k, int)]


def _last_snapshots_before(
    account_ids: Iterable[int | str], moment: datetime
) -> QuerySet[BalanceSnapshot, tuple[int, Decimal | None, Decimal | None, Decimal | None]]:
    """Each account's last snapshot taken before `moment`, in one windowed query."""
    return (
        BalanceSnapshot.objects.filter(account_id__in=_linked(account_ids), taken_at__lt=moment)
        .annotate(
            rank=Window(RowNumber(), partition_by=[F("account_id")], order_by=F("taken_at").desc())
        )
        .filter(rank=1)
        .values_list("account_id", "available", "current", "limit")
    )


HISTORY_FIELDS = ("account_id", "day", "current")
ACCOUNT_FIELDS = ("account_id", "day", "available", "current", "limit")


def _daily_snapshots(
    account_ids: Iterable[int | str], start: datetime | None, end: datetime, *fields: str
) -> QuerySet[BalanceSnapshot, tuple[Any, ...]]:
    """Each account's last snapshot of each day in [start, end), by day, in one windowed
    query, as tuples of `fields` (`day` is the snapshot's date). Ask only for the columns
    needed: each decimal column costs a conversion per row."""
    qs = BalanceSnapshot.objects.filter(account_id__in=_linked(account_ids), taken_at__lt=end)
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


def daily_running_totals(
    *, accounts: Sequence[HistoryAccount], start: date | None, end: date
) -> Iterator[tuple[date, RunningTotals]]:
    """Yield each day from `start` (None: the first snapshot's or manual value's day) to
    `end` with the running per-currency totals at the end of that day, computed from
    snapshots and the values of accounts entered by hand.

    The same object is yielded every day: read it before asking for the next day. Three
    queries; snapshot rows are streamed, so memory stays O(accounts + currencies), but the
    cost is O(accounts x days) rows: the dashboard reads `net_worth_series` instead, and
    this serves `net_worth.net_worth_rebuild` and checks. An account closed on day D
    counts until D - 1 (gone by the end of D, as in today's totals).
    """
    by_pk = {a.pk: a for a in accounts}
    running = RunningTotals(by_pk)
    manual = _manual_values(by_pk, end)
    if start is not None:
        for pk, _available, current, _limit in _last_snapshots_before(by_pk, _end_of(start)):
            running.set(pk, current)
        daily = _daily_snapshots(by_pk, _end_of(start), _end_of(end), *HISTORY_FIELDS)
    else:
        daily = _daily_snapshots(by_pk, None, _end_of(end), *HISTORY_FIELDS)
    rows: Iterator[tuple[int, date, Decimal | None]] = daily.iterator(chunk_size=5000)
    pending = next(rows, None)
    if start is None:
        firsts = [d for d in (pending and pending[1], manual and manual[0][1]) if d]
        if not firsts:
            return
        start = min(firsts)
    manual_by_day: dict[date, list[tuple[str, Decimal]]] = defaultdict(list)
    for key, as_of, value in manual:
        if as_of <= start:
            running.set(key, value)  # in entry order: the last one counts
        else:
            manual_by_day[as_of].append((key, value))
    closings: dict[date, list[int | str]] = defaultdict(list)
    for account in accounts:
        if account.closed_on is not None:
            closings[max(account.closed_on, start)].append(account.pk)
    day = start
    while day <= end:
        while pending is not None and pending[1] <= day:
            running.set(pending[0], pending[2])
            pending = next(rows, None)
        for key, value in manual_by_day.get(day, ()):
            running.set(key, value)
        for gone in closings.get(day, ()):
            running.close(gone)
        yield day, running
        day += timedelta(days=1)


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
    days = daily_running_totals(
        accounts=accounts,
        start=start,
        end=end or timezone.localdate(timezone=timezone.get_default_timezone()),
    )
    for day, running in days:
        for currency, point in running.points(day):
            series.setdefault(currency, []).append(point)
    official = {a.currency: a.currency_is_official for a in accounts}
    return ordered(
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
    currencies, whatever the number of accounts: one query.
    """
    end = end or timezone.localdate(timezone=timezone.get_default_timezone())
    # Each currency's sums, carried forward day to day: from its last row on or before
    # `start`, then its rows after it, read together (one query).
    state: dict[str, CurrencySum] = {}
    columns = ("currency", "currency_is_official", "day", "assets", "liabilities", "accounts")
    after = NetWorthDay.objects.filter(user=user, day__lte=end).order_by()
    rows: QuerySet[NetWorthDay, tuple[str, bool, date, Decimal, Decimal, int]]
    if start is not None:
        carried_in = (
            NetWorthDay.objects.filter(user=user, day__lte=start)
            .order_by()
            .annotate(
                rank=Window(RowNumber(), partition_by=[F("currency")], order_by=F("day").desc())
            )
            .filter(rank=1)
            .values_list(*columns)
        )
        rows = carried_in.union(after.filter(day__gt=start).values_list(*columns), all=True)
    else:
        rows = after.values_list(*columns)
    by_day: dict[date, list[tuple[str, CurrencySum]]] = defaultdict(list)
    for currency, official, day, assets, liabilities, count in rows:
        sums = CurrencySum(official, assets, liabilities, count)
        if start is not None and day <= start:
            state[currency] = sums
        else:
            by_day[day].append((currency, sums))
    if start is None:
        if not by_day:
            return []
        start = min(by_day)
    series: dict[str, list[HistoryPoint]] = {}
    official_of: dict[str, bool] = {}
    day = start
    while day <= end:
        state.update(by_day.get(day, ()))
        for currency, sums in state.items():
            if sums.accounts:
                official_of[currency] = sums.currency_is_official
                series.setdefault(currency, []).append(
                    HistoryPoint(day, sums.assets, sums.liabilities)
                )
        day += timedelta(days=1)
    return ordered(
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


def account_history(
    *, account: Account, start: date | None, end: date | None = None
) -> list[AccountPoint]:
    """Return `account`'s daily balances from `start` (None: its first snapshot) to `end`.

    Two queries; days before its first snapshot are left out.
    """
    end = end or timezone.localdate(timezone=timezone.get_default_timezone())
    if account.closed_at is not None:
        end = min(end, timezone.localdate(account.closed_at, timezone.get_default_timezone()))
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


def _whole_days_before(*, user: User, day: date) -> QuerySet[NetWorthDay, tuple[Any, ...]]:
    """The last NetWorthDay row on or before `day` of each user and currency among the
    users all of whose accounts `user` sees in the household view, in one windowed query."""
    return (
        NetWorthDay.objects.filter(whole_users_q(user=user), day__lte=day)
        .annotate(
            rank=Window(
                RowNumber(), partition_by=[F("user_id"), F("currency")], order_by=F("day").desc()
            )
        )
        .filter(rank=1)
        .values_list(
            "user_id", "currency", "currency_is_official", "assets", "liabilities", "accounts"
        )
    )


# Per currency: whether it is official, and per day its (assets, liabilities).
_Sums = dict[str, tuple[bool, dict[date, list[Decimal]]]]


def _whole_users_sums(*, user: User, start: date | None, end: date) -> _Sums:
    """The daily sums over the users all of whose accounts `user` sees (themself, and
    every owner sharing all), read from their daily totals: each user's row carried
    forward until their next, summed per currency. Two queries (one without `start`)."""
    state: dict[tuple[int, str], CurrencySum] = {}
    rows = NetWorthDay.objects.filter(whole_users_q(user=user), day__lte=end)
    if start is not None:
        for user_id, currency, official, assets, liabilities, count in _whole_days_before(
            user=user, day=start
        ):
            state[(user_id, currency)] = CurrencySum(official, assets, liabilities, count)
        rows = rows.filter(day__gt=start)
    by_day: dict[date, list[tuple[tuple[int, str], CurrencySum]]] = defaultdict(list)
    for user_id, currency, official, day, assets, liabilities, count in rows.values_list(
        "user_id", "currency", "currency_is_official", "day", "assets", "liabilities", "accounts"
    ):
        by_day[day].append(((user_id, currency), CurrencySum(official, assets, liabilities, count)))
    sums: _Sums = {}
    if start is None:
        if not by_day:
            return sums
        start = min(by_day)
    day = start
    while day <= end:
        state.update(by_day.get(day, ()))
        for (_user_id, currency), part in state.items():
            if part.accounts:
                official, days = sums.setdefault(currency, (part.currency_is_official, {}))
                point = days.setdefault(day, [Decimal(0), Decimal(0)])
                point[0] += part.assets
                point[1] += part.liabilities
        day += timedelta(days=1)
    return sums


def chosen_history_accounts(*, user: User) -> list[HistoryAccount]:
    """Return the accounts owners chose to share with `user` (owners sharing only chosen
    accounts), as `history_accounts` does for a user's own; two queries."""
    return _history_accounts(
        chosen_account_q(user=user) & Q(duplicate_of__isnull=True),
        chosen_manual_q(user=user),
    )


def household_history_accounts(
    *,
    user: User,
    chosen: Sequence[HistoryAccount] | None = None,
    copies: Mapping[int, HouseholdCopy] | None = None,
) -> list[HistoryAccount]:
    """Return what the household's history adds to the daily totals of the whole users
    (`_whole_users_sums`): the accounts owners chose to share (`chosen`, read when None:
    two queries), less those counted under another member's connection, and, taken away
    (weight -1), each such copy held by a whole user, whose daily totals count it.

    `copies`: `selectors.accounts.household_copies` (read when None: one query). Copies
    are found among open accounts: one closed in a member's connection counts on the days
    it was open.
    """
    if chosen is None:
        chosen = chosen_history_accounts(user=user)
    if copies is None:
        copies = household_copies(user=user)
    if not copies:
        return list(chosen)
    chosen_pks = {a.pk for a in chosen}
    return [a for a in chosen if a.pk not in copies] + [
        HistoryAccount(
            pk=pk,
            currency=copy.balance.currency,
            currency_is_official=copy.balance.currency_is_official,
            is_liability=copy.balance.is_liability,
            closed_on=None,
            weight=-1,
        )
        for pk, copy in copies.items()
        if pk not in chosen_pks and copy.balance.currency
    ]


def household_series(
    *,
    user: User,
    start: date | None,
    end: date | None = None,
    main_currency: str = "USD",
    chosen: Sequence[HistoryAccount] | None = None,
    copies: Mapping[int, HouseholdCopy] | None = None,
) -> list[CurrencyHistory]:
    """Return the daily net worth per currency over exactly the accounts `user` sees in
    the household view: the daily totals (NetWorthDay) of `user` and of every owner
    sharing all their accounts with them (each stands for all of one user's accounts),
    plus the accounts owners chose to share (`chosen`), computed from their snapshots and
    values, less the joint accounts two members linked, each counted once
    (`household_history_accounts`).

    No account counts twice: an owner shares either all or chosen accounts with a user
    (one open share per pair), a user's own accounts are only in their own totals, and
    of an account two members linked, the copy a whole user's totals hold is taken away.
    Five queries, two to read `chosen` and one for `copies` when not given, whatever the
    number of accounts; rows read: days x currencies x whole users, plus (chosen accounts
    and copies) x days.
    """
    end = end or timezone.localdate(timezone=timezone.get_default_timezone())
    sums = _whole_users_sums(user=user, start=start, end=end)
    adjusted = household_history_accounts(user=user, chosen=chosen, copies=copies)
    if adjusted:
        for history in net_worth_history(accounts=adjusted, start=start, end=end):
            _official, days = sums.setdefault(history.currency, (history.currency_is_official, {}))
            for point in history.points:
                both = days.setdefault(point.day, [Decimal(0), Decimal(0)])
                both[0] += point.assets
                both[1] += point.liabilities
    return ordered(
        (
            CurrencyHistory(
                currency=currency,
                currency_is_official=official,
                points=[HistoryPoint(d, *days[d]) for d in sorted(days)],
            )
            for currency, (official, days) in sums.items()
        ),
        main_currency,
    )


def household_change(
    *,
    user: User,
    totals: Sequence[CurrencyTotals],
    since: date,
    chosen: Sequence[HistoryAccount] | None = None,
    copies: Mapping[int, HouseholdCopy] | None = None,
) -> list[CurrencyChange]:
    """Return, per currency of `totals`, the household's net worth now against at the end
    of `since`, over the accounts of `household_series`: one query for the whole users'
    daily totals, two for the last values of the chosen accounts and copies (and two to
    read `chosen`, one for `copies`, when not given). A currency with no balance recorded
    by then has `before` None."""
    before: dict[str, Decimal] = {}
    for _user_id, currency, _official, assets, liabilities, count in _whole_days_before(
        user=user, day=since
    ):
        if count:
            before[currency] = before.get(currency, Decimal(0)) + assets - liabilities
    adjusted = household_history_accounts(user=user, chosen=chosen, copies=copies)
    if adjusted:
        by_pk = {a.pk: a for a in adjusted}
        running = RunningTotals(by_pk)
        for key, _day, value in _manual_values(by_pk, since):
            running.set(key, value)  # by day, then entry: the last one counts
        for pk, _available, current, _limit in _last_snapshots_before(by_pk, _end_of(since)):
            running.set(pk, current)
        for account in adjusted:
            # Closed on day D: gone by the end of D (as in `daily_running_totals`).
            if account.closed_on is not None and account.closed_on <= since:
                running.close(account.pk)
        for currency, point in running.points(since):
            before[currency] = before.get(currency, Decimal(0)) + point.net_worth
    return _changes(totals, since, before)
