from decimal import Decimal

import pytest

from balances.domain.totals import totals_by_currency
from balances.models import Account
from balances.selectors import accounts
from tests.conftest import example_reply
from tests.factories import AccountFactory, PlaidItemFactory, UserFactory


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


def test_grouping_order_labels_and_subtotals():
    groups = accounts.group_accounts(accounts_from_example())
    assert [(g.key, g.label, len(g.accounts)) for g in groups] == [
        ("depository", "Cash", 4),
        ("credit", "Credit cards", 1),
    ]
    assert [(s.currency, s.amount) for s in groups[0].subtotals] == [("USD", Decimal("44520"))]
    assert [(s.currency, s.amount) for s in groups[1].subtotals] == [("USD", Decimal("410"))]
    assert groups[1].is_liability


def test_unknown_and_brokerage_types_are_grouped():
    accounts = [
        Account(type="brokerage", iso_currency_code="USD", current=Decimal("5")),
        Account(type="something-new", iso_currency_code="USD", current=Decimal("7")),
    ]
    assert [g.key for g in accounts.group_accounts(accounts)] == ["investment", "other"]


@pytest.mark.django_db
def test_accounts_for_user_only_returns_own_open_accounts():
    alice, bob = UserFactory(), UserFactory()
    mine = AccountFactory(item=PlaidItemFactory(owner=alice))
    AccountFactory(item=PlaidItemFactory(owner=bob))
    closed = AccountFactory(item=mine.item)
    Account.objects.filter(pk=closed.pk).update(closed_at="2026-01-01T00:00:00Z")
    assert list(accounts.accounts_for_user(user=alice)) == [mine]


@pytest.mark.django_db
def test_pending_covers_erroring_items_and_expires(settings):
    from datetime import timedelta

    from django.utils import timezone

    from balances.models import PlaidItem

    now = timezone.now()
    erroring = PlaidItemFactory(status=PlaidItem.Status.ERROR, refresh_requested_at=now)
    assert erroring.is_refresh_pending
    lost = PlaidItemFactory(refresh_requested_at=now - timedelta(hours=2))
    settings.BALANCE_REFRESH_PENDING_TTL = 3600
    assert not lost.is_refresh_pending
    done = PlaidItemFactory(refresh_requested_at=now, last_refreshed_at=now + timedelta(seconds=1))
    assert not done.is_refresh_pending
    revoked = PlaidItemFactory(status=PlaidItem.Status.REVOKED, refresh_requested_at=now)
    assert not revoked.is_refresh_pending
