"""Amounts on the wire: exact decimal text, and a credit account's utilization.

Shared by every output (the pages' JSON and CSV, the read API) so an amount reads the same
everywhere.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal


def decimal_text(amount: Decimal | None, *, official: bool = True) -> str | None:
    """Return `amount` as exact plain text ("110.00", "23631.9805", "0.51234567"); None stays.

    Official currencies keep at least two decimals; nothing is rounded away.
    """
    if amount is None:
        return None
    text = amount.normalize()
    if official and text.as_tuple().exponent > -2:  # type: ignore[operator]
        text = amount.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    return f"{text:f}"


def utilization(current: Decimal | None, limit: Decimal | None) -> Decimal | None:
    """Return current ÷ limit in percent, one decimal (None without both, or a zero limit)."""
    if current is None or not limit:
        return None
    return (current / limit * 100).quantize(Decimal("0.1"), ROUND_HALF_UP)
