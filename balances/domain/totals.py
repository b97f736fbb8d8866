"""Assets, liabilities and net worth per currency: the one implementation of totals.

Plaid reports `current` of credit and loan accounts as the positive amount owed, so net
worth = sum(current of other accounts) - sum(current of credit and loan accounts).
Accounts without a `current` balance or a currency count for nothing. Amounts in
different currencies are never added together. Every list of currencies is ordered by
`currency_order`: official (ISO) currencies first, the user's main currency leading;
unofficial ones (crypto) after them.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Protocol, TypeVar


class Balance(Protocol):
    """What totals need of an account (a model, a row read as values, a saved state)."""

    @property
    def currency(self) -> str: ...
    @property
    def currency_is_official(self) -> bool: ...
    @property
    def is_liability(self) -> bool: ...
    @property
    def current(self) -> Decimal | None: ...


class InCurrency(Protocol):
    @property
    def currency(self) -> str: ...
    @property
    def currency_is_official(self) -> bool: ...


C = TypeVar("C", bound=InCurrency)


def currency_order(currency: str, official: bool, main_currency: str) -> tuple[bool, bool, str]:
    """Sort key of a currency: official first, `main_currency` leading, then by code."""
    return (not official, currency != main_currency, currency)


def ordered(entries: Iterable[C], main_currency: str) -> list[C]:
    """Return per-currency `entries` in `currency_order`."""
    return sorted(
        entries,
        key=lambda e: currency_order(e.currency, e.currency_is_official, main_currency),
    )


@dataclass
class CurrencySum:
    """One currency's running sums: assets, liabilities and the accounts counted."""

    currency_is_official: bool
    assets: Decimal = Decimal(0)
    liabilities: Decimal = Decimal(0)
    accounts: int = 0

    def add(self, balance: Balance, sign: int = 1) -> None:
        """Count `balance` in (sign 1) or out (sign -1); a missing balance counts nothing."""
        if balance.current is None:
            return
        if balance.is_liability:
            self.liabilities += sign * balance.current
        else:
            self.assets += sign * balance.current
        self.accounts += sign


def sums_by_currency(balances: Iterable[Balance]) -> dict[str, CurrencySum]:
    """Return currency -> sums over `balances` (those with a currency and a balance)."""
    sums: dict[str, CurrencySum] = {}
    for balance in balances:
        if not balance.currency or balance.current is None:
            continue
        entry = sums.get(balance.currency)
        if entry is None:
            entry = sums[balance.currency] = CurrencySum(balance.currency_is_official)
        entry.add(balance)
    return sums


@dataclass(frozen=True)
class CurrencyTotals:
    currency: str
    assets: Decimal
    liabilities: Decimal
    currency_is_official: bool

    @property
    def net_worth(self) -> Decimal:
        return self.assets - self.liabilities


def totals_by_currency(
    balances: Iterable[Balance], *, main_currency: str = "USD"
) -> list[CurrencyTotals]:
    """Return assets, liabilities and net worth per currency, in `currency_order`."""
    return ordered(
        (
            CurrencyTotals(
                currency=currency,
                assets=entry.assets,
                liabilities=entry.liabilities,
                currency_is_official=entry.currency_is_official,
            )
            for currency, entry in sums_by_currency(balances).items()
        ),
        main_currency,
    )


# An account's key in history: a Plaid account's pk, or "m<pk>" for one entered by hand.
AccountKey = int | str


@dataclass(frozen=True)
class HistoryAccount:
    """What history needs to know about an account (closed ones included)."""

    pk: AccountKey
    currency: str
    currency_is_official: bool
    is_liability: bool
    closed_on: date | None
    # -1 to take the account's values away from a sum that holds them already (in a
    # household, the copy of a joint account inside its owner's daily totals).
    weight: int = 1


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


class RunningTotals:
    """Per-currency assets and liabilities of carried-forward account values.

    Each change costs O(1), so a day costs O(changes that day + currencies), not
    O(accounts): history over 1,000 accounts and a year stays cheap. An account of
    weight -1 is taken away from its sum; it still counts as an account with a value (a
    currency has points while any account of it has one).
    """

    def __init__(self, by_pk: dict[AccountKey, HistoryAccount]) -> None:
        self.by_pk = by_pk
        self.values: dict[AccountKey, Decimal] = {}  # account key -> carried-forward `current`
        self.gone: set[AccountKey] = set()  # closed accounts: they count for nothing any more
        self.assets: dict[str, Decimal] = defaultdict(Decimal)
        self.liabilities: dict[str, Decimal] = defaultdict(Decimal)
        self.counts: dict[str, int] = defaultdict(int)  # accounts with a value, per currency

    def set(self, pk: AccountKey, current: Decimal | None) -> None:
        if pk in self.gone:
            return
        account = self.by_pk[pk]
        target = self.liabilities if account.is_liability else self.assets
        old = self.values.pop(pk, None)
        if old is not None:
            target[account.currency] -= old
            self.counts[account.currency] -= 1
        if current is not None:
            if account.weight != 1:
                current = current * account.weight
            self.values[pk] = current
            target[account.currency] += current
            self.counts[account.currency] += 1

    def close(self, pk: AccountKey) -> None:
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
