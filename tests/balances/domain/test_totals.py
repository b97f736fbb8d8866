"""`balances.domain.totals`: assets, liabilities and net worth per currency, never mixed."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from balances.domain.totals import (
    CurrencySum,
    CurrencyTotals,
    currency_order,
    ordered,
    sums_by_currency,
    totals_by_currency,
)
from balances.models import Account
from tests.conftest import example_reply


def accounts_from_example() -> list[Account]:
    """Build unsaved Accounts from Plaid's Retrieve Balance sample."""
    return [
        Account(
            plaid_account_id=a["account_id"],
            name=a["name"],
            type=a["type"],
            subtype=a["subtype"],
            iso_currency_code=a["balances"]["iso_currency_code"],
            available=None
            if a["balances"]["available"] is None
            else Decimal(str(a["balances"]["available"])),
            current=Decimal(str(a["balances"]["current"])),
            limit=None if a["balances"]["limit"] is None else Decimal(str(a["balances"]["limit"])),
        )
        for a in example_reply()["accounts"]
    ]


@dataclass(frozen=True)
class Balance:
    """Anything with a currency, a liability flag and a `current` balance counts."""

    currency: str
    current: Decimal | None
    is_liability: bool = False
    currency_is_official: bool = True


def test_example_item_net_worth_is_44110():
    (usd,) = totals_by_currency(accounts_from_example())
    assert usd.currency == "USD"
    assert usd.assets == Decimal("44520")
    assert usd.liabilities == Decimal("410")
    assert usd.net_worth == Decimal("44110.00")


def test_currencies_are_never_added_together():
    accounts = [
        Account(type="depository", iso_currency_code="USD", current=Decimal("100")),
        Account(type="depository", iso_currency_code="CAD", current=Decimal("50")),
        Account(type="credit", iso_currency_code="CAD", current=Decimal("20")),
        Account(type="investment", unofficial_currency_code="BTC", current=Decimal("0.5")),
        Account(type="depository", iso_currency_code="EUR", current=None),
    ]
    totals = totals_by_currency(accounts, main_currency="USD")
    assert [(t.currency, t.net_worth, t.currency_is_official) for t in totals] == [
        ("USD", Decimal("100"), True),
        ("CAD", Decimal("30"), True),
        ("BTC", Decimal("0.5"), False),
    ]


def test_main_currency_comes_first():
    accounts = [
        Account(type="depository", iso_currency_code="USD", current=Decimal("1")),
        Account(type="depository", iso_currency_code="CAD", current=Decimal("1")),
    ]
    assert [t.currency for t in totals_by_currency(accounts, main_currency="CAD")] == [
        "CAD",
        "USD",
    ]


def test_loans_are_liabilities():
    accounts = [
        Account(type="depository", iso_currency_code="USD", current=Decimal("1000")),
        Account(type="loan", iso_currency_code="USD", current=Decimal("65262")),
    ]
    (usd,) = totals_by_currency(accounts)
    assert usd.net_worth == Decimal("-64262")


def test_no_balances_no_totals():
    assert totals_by_currency([]) == []
    assert totals_by_currency([Balance("USD", None), Balance("", Decimal(5))]) == []


def test_sums_count_the_accounts_with_a_currency_and_a_balance():
    sums = sums_by_currency(
        [
            Balance("USD", Decimal("100")),
            Balance("USD", Decimal("40"), is_liability=True),
            Balance("USD", Decimal("0")),  # zero is a balance
            Balance("USD", None),  # not reported: counts for nothing
            Balance("", Decimal("7")),  # no currency: counts for nothing
            Balance("BTC", Decimal("0.25"), currency_is_official=False),
        ]
    )
    assert sums == {
        "USD": CurrencySum(True, Decimal("100"), Decimal("40"), 3),
        "BTC": CurrencySum(False, Decimal("0.25"), Decimal(0), 1),
    }


def test_a_sum_counts_a_balance_in_and_out():
    entry = CurrencySum(True)
    entry.add(Balance("USD", Decimal("30"), is_liability=True))
    entry.add(Balance("USD", Decimal("100")))
    entry.add(Balance("USD", Decimal("100")), sign=-1)
    entry.add(Balance("USD", None))
    assert entry == CurrencySum(True, Decimal(0), Decimal("30"), 1)


def test_currency_order_official_first_main_leading_then_by_code():
    keyed = [
        ("BTC", False),
        ("EUR", True),
        ("ETH", False),
        ("USD", True),
        ("CAD", True),
        ("AAA", False),
    ]
    by_key = sorted(keyed, key=lambda c: currency_order(*c, main_currency="EUR"))
    assert [code for code, _ in by_key] == ["EUR", "CAD", "USD", "AAA", "BTC", "ETH"]
    # An unofficial main currency does not jump ahead of the official ones.
    by_key = sorted(keyed, key=lambda c: currency_order(*c, main_currency="BTC"))
    assert [code for code, _ in by_key] == ["CAD", "EUR", "USD", "BTC", "AAA", "ETH"]


def test_ordered_sorts_any_per_currency_entries():
    entries = [
        CurrencyTotals("USD", Decimal(1), Decimal(0), True),
        CurrencyTotals("XBT", Decimal(1), Decimal(0), False),
        CurrencyTotals("CAD", Decimal(1), Decimal(0), True),
    ]
    assert [e.currency for e in ordered(entries, "USD")] == ["USD", "CAD", "XBT"]
    assert [e.currency for e in ordered(entries, "GBP")] == ["CAD", "USD", "XBT"]
