"""`balances.domain.amounts`: exact decimal text; a credit account's utilization."""

from __future__ import annotations

from decimal import Decimal

import pytest

from balances.domain.amounts import decimal_text, utilization


@pytest.mark.parametrize(
    ("amount", "official", "text"),
    [
        (Decimal("110"), True, "110.00"),
        (Decimal("23631.9805"), True, "23631.9805"),
        (Decimal("0.51234567"), False, "0.51234567"),
        (Decimal("5E+3"), False, "5000"),
        (Decimal("-0.5"), True, "-0.50"),
        (None, True, None),
    ],
)
def test_decimal_text(amount: Decimal | None, official: bool, text: str | None) -> None:
    assert decimal_text(amount, official=official) == text


def test_utilization() -> None:
    assert utilization(Decimal(410), Decimal(2000)) == Decimal("20.5")
    assert utilization(Decimal(1), Decimal(3)) == Decimal("33.3")
    assert utilization(None, Decimal(2000)) is None
    assert utilization(Decimal(410), None) is None
    assert utilization(Decimal(410), Decimal(0)) is None
