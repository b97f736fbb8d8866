"""`{{ amount|money:currency }}`: `$44,110.00`, `-$410.00`, `€12.50`, `0.51234567 BTC`."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django import template

register = template.Library()

SYMBOLS = {"USD": "$", "CAD": "CA$", "EUR": "€", "GBP": "£", "JPY": "¥", "AUD": "A$"}
ZERO_DECIMAL = frozenset({"JPY", "KRW"})
MISSING = "—"


def format_money(amount: Decimal | None, currency: str = "USD", *, official: bool = True) -> str:
    """Format `amount` in `currency`; None (no value reported) becomes an em dash.

    Official (ISO 4217) currencies are rounded to their minor unit; unofficial ones
    (crypto, `official=False`) keep their precision.
    """
    if amount is None:
        return MISSING
    currency = (currency or "").upper()
    if official:
        places = Decimal(1) if currency in ZERO_DECIMAL else Decimal("0.01")
        rounded = amount.quantize(places, rounding=ROUND_HALF_UP)
        digits = f"{abs(rounded):,.{0 if currency in ZERO_DECIMAL else 2}f}"
        sign = "-" if rounded < 0 else ""
        symbol = SYMBOLS.get(currency)
        return f"{sign}{symbol}{digits}" if symbol else f"{sign}{digits} {currency}"
    # Unofficial currencies (crypto): keep the precision, drop trailing zeros.
    text = f"{amount.normalize():f}"
    return f"{text} {currency}".strip()


@register.filter
def money(amount: Decimal | None, currency: Any = "USD") -> str:
    """Format `amount`; `currency` is a code, or anything with `currency` and
    `currency_is_official` (an Account, a per-currency total)."""
    if isinstance(currency, str):
        return format_money(amount, currency)
    return format_money(amount, currency.currency, official=currency.currency_is_official)


@register.filter
def utilization(current: Decimal | None, limit: Decimal | None) -> int | None:
    """Return current ÷ limit as a whole percent (None without both)."""
    if current is None or not limit:
        return None
    return int((current / limit * 100).quantize(Decimal(1), rounding=ROUND_HALF_UP))
