"""The money tags: amounts in their currency, and credit utilization."""

from decimal import Decimal

import pytest

from balances.models import Account
from balances.web.templatetags.money import format_money, money, utilization


@pytest.mark.parametrize(
    ("amount", "currency", "expected"),
    [
        (Decimal("44110"), "USD", "$44,110.00"),
        (Decimal("-410"), "USD", "-$410.00"),
        (Decimal("0.005"), "USD", "$0.01"),
        (Decimal("-0.004"), "USD", "$0.00"),
        (Decimal("1234.5"), "CAD", "CA$1,234.50"),
        (Decimal("1234.5"), "CHF", "1,234.50 CHF"),
        (Decimal("1500"), "JPY", "¥1,500"),
        (None, "USD", "—"),
    ],
)
def test_format_money(amount, currency, expected):
    assert format_money(amount, currency) == expected


def test_unofficial_currencies_keep_their_precision():
    assert format_money(Decimal("0.5123456700"), "BTC", official=False) == "0.51234567 BTC"
    assert format_money(Decimal("12"), "DOGE", official=False) == "12 DOGE"


def test_filter_takes_an_account():
    btc = Account(unofficial_currency_code="BTC", current=Decimal("0.25000000"))
    usd = Account(iso_currency_code="USD", current=Decimal("3"))
    assert money(btc.current, btc) == "0.25 BTC"
    assert money(usd.current, usd) == "$3.00"


def test_utilization():
    assert utilization(Decimal("410"), Decimal("2000")) == 21
    assert utilization(Decimal("5020"), Decimal("10000")) == 50
    assert utilization(None, Decimal("2000")) is None
    assert utilization(Decimal("10"), None) is None
