"""Dashboard figures: signed amounts and percents for changes, utilization classes, and
how old a balance is ("as of …" when older than its refresh)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from django import template
from django.utils import timezone

from balances.domain import balance_age
from balances.models import Account, PlaidItem
from balances.web.templatetags.money import MISSING, format_money

register = template.Library()


@register.filter
def signed_money(amount: Decimal | None, currency: Any) -> str:
    """Format a change: `+$300.00`, `-$12.50`, `$0.00`; None becomes an em dash."""
    if amount is None:
        return MISSING
    if isinstance(currency, str):
        text = format_money(amount, currency)
    else:
        text = format_money(amount, currency.currency, official=currency.currency_is_official)
    return f"+{text}" if amount > 0 and text[0] != "+" else text


@register.filter
def signed_percent(value: Decimal | None) -> str:
    """Format a percent change: `+42.9%`, `-3.0%`; None (undefined) becomes an em dash."""
    if value is None:
        return MISSING
    return f"+{value}%" if value > 0 else f"{value}%"


@register.filter
def trend(amount: Decimal | None) -> str:
    """Return `up`, `down` or `flat` for CSS."""
    if not amount:
        return "flat"
    return "up" if amount > 0 else "down"


@register.filter
def subtract(amount: Decimal | None, other: Decimal | None) -> Decimal | None:
    """Return amount - other (None when either is missing)."""
    if amount is None or other is None:
        return None
    return amount - other


@register.filter
def is_stale(item: PlaidItem) -> bool:
    """Whether `item`'s balances are older than BALANCE_STALE_AFTER (or were never fetched)."""
    return item.is_stale


@register.filter
def balance_as_of(account: Account) -> datetime | None:
    """Return when the bank last updated `account`'s balances if that is older than the
    refresh that stored them (the page then says "as of …"), else None. Reads
    `account.item` (select it with the account)."""
    return balance_age.balance_as_of(account.balances_updated_at, account.item.last_refreshed_at)


@register.filter
def not_future(moment: datetime | None) -> datetime | None:
    """Clamp a bank-reported time to now: a skewed clock must not say "2 hours from now"."""
    if moment is None:
        return None
    return min(moment, timezone.now())
