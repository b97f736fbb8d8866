"""Reads for the dashboard: a user's Items, accounts grouped by type, net worth.

Amounts in different currencies are never added together: every total is per currency.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.contrib.auth.models import User
from django.db.models import QuerySet
from django.utils import timezone

from .models import Account, PlaidItem

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
    accounts: list[Account] = field(default_factory=list)
    # Sum of `current` per currency (for liabilities: the amount owed).
    subtotals: list[Subtotal] = field(default_factory=list)


@dataclass
class Subtotal:
    currency: str
    currency_is_official: bool
    amount: Decimal


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


def group_key(account: Account) -> str:
    """Return the dashboard group an account belongs to."""
    return _GROUP_OF_TYPE.get(account.type, "other")


def group_accounts(accounts: Iterable[Account]) -> list[AccountGroup]:
    """Group accounts by type in display order, with per-currency subtotals; skip empty groups."""
    groups = {
        key: AccountGroup(key=key, label=label, is_liability=key in ("credit", "loan"))
        for key, label, _ in GROUPS
    }
    subtotals: dict[tuple[str, str], Subtotal] = {}
    for account in accounts:
        group = groups[group_key(account)]
        group.accounts.append(account)
        if account.current is None or not account.currency:
            continue
        subtotal = subtotals.get((group.key, account.currency))
        if subtotal is None:
            subtotal = Subtotal(account.currency, account.currency_is_official, Decimal(0))
            subtotals[(group.key, account.currency)] = subtotal
            group.subtotals.append(subtotal)
        subtotal.amount += account.current
    for group in groups.values():
        group.subtotals.sort(key=lambda s: (not s.currency_is_official, s.currency))
    return [group for group in groups.values() if group.accounts]


def accounts_by_type(*, user: User) -> list[AccountGroup]:
    """Return `user`'s open accounts grouped by type."""
    return group_accounts(accounts_for_user(user=user))


def totals_by_currency(
    accounts: Iterable[Account], *, main_currency: str = "USD"
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


def net_worth(*, user: User) -> list[CurrencyTotals]:
    """Return `user`'s net worth per currency."""
    return totals_by_currency(accounts_for_user(user=user))


@dataclass(frozen=True)
class ItemFreshness:
    item: PlaidItem
    is_stale: bool


def items_freshness(items: Sequence[PlaidItem]) -> list[ItemFreshness]:
    """Flag Items whose last successful refresh is older than BALANCE_STALE_AFTER."""
    cutoff = timezone.now() - timedelta(seconds=settings.BALANCE_STALE_AFTER)
    return [
        ItemFreshness(
            item=item, is_stale=item.last_refreshed_at is None or item.last_refreshed_at < cutoff
        )
        for item in items
    ]
