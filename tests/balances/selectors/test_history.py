"""`balances.selectors.history`: net worth over time, its change since a date, and one
account's daily balances."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from balances.domain import periods
from balances.domain.totals import totals_by_currency
from balances.models import BalanceSnapshot
from balances.selectors import accounts, history
from balances.services import manual_accounts, net_worth
from tests.factories import AccountFactory, PlaidItemFactory, UserFactory

pytestmark = pytest.mark.django_db

TODAY = date(2026, 3, 31)


def at(day: date, hour: int = 12) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC)


def snap(account, day: date, current: str | None, *, hour: int = 12, available=None, limit=None):
    return BalanceSnapshot.objects.create(
        account=account,
        taken_at=at(day, hour),
        current=None if current is None else Decimal(current),
        available=None if available is None else Decimal(available),
        limit=None if limit is None else Decimal(limit),
    )


def rebuilt_change(user, totals, *, since: date):
    """`net_worth_change` read from daily totals rebuilt from the snapshots above."""
    net_worth.net_worth_rebuild(user_id=user.pk, end=TODAY)
    return history.net_worth_change(user=user, totals=totals, since=since)


@pytest.fixture
def user():
    return UserFactory()


def test_daily_points_carry_the_last_snapshot_forward(user):
    item = PlaidItemFactory(owner=user)
    cash = AccountFactory(item=item)
    card = AccountFactory(item=item, type="credit", subtype="credit card")
    snap(cash, TODAY - timedelta(days=10), "500")  # before the range: the starting value
    snap(cash, TODAY - timedelta(days=2), "600", hour=9)
    snap(cash, TODAY - timedelta(days=2), "650", hour=18)  # the day's last one wins
    snap(card, TODAY - timedelta(days=1), "100")
    counted = history.history_accounts(user=user)
    (usd,) = history.net_worth_history(accounts=counted, start=TODAY - timedelta(days=3), end=TODAY)
    assert usd.currency == "USD"
    assert [(p.day, p.assets, p.liabilities, p.net_worth) for p in usd.points] == [
        (TODAY - timedelta(days=3), Decimal(500), Decimal(0), Decimal(500)),
        (TODAY - timedelta(days=2), Decimal(650), Decimal(0), Decimal(650)),
        (TODAY - timedelta(days=1), Decimal(650), Decimal(100), Decimal(550)),
        (TODAY, Decimal(650), Decimal(100), Decimal(550)),
    ]


def test_all_history_starts_at_the_first_snapshot_and_skips_days_without_data(user):
    cash = AccountFactory(item=PlaidItemFactory(owner=user))
    assert history.net_worth_history(accounts=[], start=None, end=TODAY) == []
    assert (
        history.net_worth_history(
            accounts=history.history_accounts(user=user), start=None, end=TODAY
        )
        == []
    )
    snap(cash, TODAY - timedelta(days=4), "10")
    (usd,) = history.net_worth_history(
        accounts=history.history_accounts(user=user), start=None, end=TODAY
    )
    assert usd.points[0].day == TODAY - timedelta(days=4)
    assert len(usd.points) == 5
    # A 30-day range that starts before the first snapshot has no points for those days.
    (usd,) = history.net_worth_history(
        accounts=history.history_accounts(user=user),
        start=periods.range_start("30d", today=TODAY),
        end=TODAY,
    )
    assert len(usd.points) == 5


def test_history_never_adds_currencies_and_puts_the_main_one_first(user):
    item = PlaidItemFactory(owner=user)
    snap(AccountFactory(item=item, iso_currency_code="USD"), TODAY, "100")
    snap(AccountFactory(item=item, iso_currency_code="CAD"), TODAY, "70")
    snap(
        AccountFactory(item=item, iso_currency_code="", unofficial_currency_code="BTC"),
        TODAY,
        "0.5",
    )
    counted = history.history_accounts(user=user)
    histories = history.net_worth_history(
        accounts=counted, start=TODAY, end=TODAY, main_currency="CAD"
    )
    assert [(h.currency, h.currency_is_official, h.points[0].net_worth) for h in histories] == [
        ("CAD", True, Decimal(70)),
        ("USD", True, Decimal(100)),
        ("BTC", False, Decimal("0.5")),
    ]


def test_closed_accounts_stop_counting_after_they_close(user):
    item = PlaidItemFactory(owner=user)
    snap(AccountFactory(item=item), TODAY - timedelta(days=5), "100")
    closed = AccountFactory(item=item, closed_at=at(TODAY - timedelta(days=2)))
    snap(closed, TODAY - timedelta(days=5), "40")
    (usd,) = history.net_worth_history(
        accounts=history.history_accounts(user=user),
        start=TODAY - timedelta(days=3),
        end=TODAY,
    )
    # Closed during TODAY-2: gone by the end of that day, as in today's totals.
    assert [p.net_worth for p in usd.points] == [Decimal(140), Decimal(100), Decimal(100), 100]


def test_history_excludes_other_users(user):
    snap(AccountFactory(item=PlaidItemFactory(owner=user)), TODAY, "1")
    snap(AccountFactory(), TODAY, "1000")
    (usd,) = history.net_worth_history(
        accounts=history.history_accounts(user=user), start=TODAY, end=TODAY
    )
    assert usd.points[0].net_worth == 1


def test_net_worth_change_amount_and_percent(user):
    item = PlaidItemFactory(owner=user)
    cash = AccountFactory(item=item, current=Decimal("1200"))
    card = AccountFactory(item=item, type="credit", current=Decimal("200"), limit=Decimal(1000))
    snap(cash, TODAY - timedelta(days=40), "1000")
    snap(card, TODAY - timedelta(days=40), "300")
    snap(cash, TODAY - timedelta(days=5), "1200")  # after the base day: ignored for "before"
    totals = totals_by_currency(accounts.accounts_for_user(user=user))
    (change,) = rebuilt_change(user, totals, since=TODAY - timedelta(days=30))
    assert change.before == Decimal(700)
    assert change.now == Decimal(1000)
    assert change.amount == Decimal(300)
    assert change.percent == Decimal("42.9")


def test_net_worth_change_is_unknown_without_history(user):
    AccountFactory(item=PlaidItemFactory(owner=user), current=Decimal(50))
    totals = totals_by_currency(accounts.accounts_for_user(user=user))
    (change,) = rebuilt_change(user, totals, since=TODAY)
    assert change.before is None
    assert change.amount is None
    assert change.percent is None


def test_net_worth_change_percent_is_undefined_from_zero(user):
    item = PlaidItemFactory(owner=user)
    cash = AccountFactory(item=item, current=Decimal(50))
    card = AccountFactory(item=item, type="credit", current=Decimal(0))
    snap(cash, TODAY - timedelta(days=10), "100")
    snap(card, TODAY - timedelta(days=10), "100")  # net worth exactly 0 then
    totals = totals_by_currency(accounts.accounts_for_user(user=user))
    (change,) = rebuilt_change(user, totals, since=TODAY - timedelta(days=7))
    assert change.before == 0
    assert change.amount == Decimal(50)
    assert change.percent is None


def test_an_account_linked_later_counts_as_zero_then(user):
    item = PlaidItemFactory(owner=user)
    old = AccountFactory(item=item, current=Decimal(100))
    AccountFactory(item=item, current=Decimal(30))
    snap(old, TODAY - timedelta(days=10), "80")
    totals = totals_by_currency(accounts.accounts_for_user(user=user))
    (change,) = rebuilt_change(user, totals, since=TODAY - timedelta(days=7))
    assert (change.before, change.now, change.amount, change.percent) == (
        80,
        130,
        50,
        Decimal("62.5"),
    )


def test_negative_base_percent_uses_its_magnitude(user):
    item = PlaidItemFactory(owner=user)
    loan = AccountFactory(item=item, type="loan", current=Decimal(900))
    snap(loan, TODAY - timedelta(days=10), "1000")
    totals = totals_by_currency(accounts.accounts_for_user(user=user))
    (change,) = rebuilt_change(user, totals, since=TODAY - timedelta(days=7))
    assert (change.before, change.now, change.amount) == (-1000, -900, 100)
    assert change.percent == Decimal("10.0")  # paid down: a positive change


def test_account_history_daily_points_keep_missing_values(user):
    card = AccountFactory(item=PlaidItemFactory(owner=user), type="credit")
    snap(card, TODAY - timedelta(days=3), "100", limit="1000")
    snap(card, TODAY - timedelta(days=1), "150", available="850", limit="1000")
    points = history.account_history(account=card, start=None, end=TODAY)
    assert [(p.day, p.available, p.current, p.limit) for p in points] == [
        (TODAY - timedelta(days=3), None, Decimal(100), Decimal(1000)),
        (TODAY - timedelta(days=2), None, Decimal(100), Decimal(1000)),
        (TODAY - timedelta(days=1), Decimal(850), Decimal(150), Decimal(1000)),
        (TODAY, Decimal(850), Decimal(150), Decimal(1000)),
    ]
    later = history.account_history(account=card, start=TODAY - timedelta(days=2), end=TODAY)
    assert [p.current for p in later] == [Decimal(100), Decimal(150), Decimal(150)]


def test_history_costs_a_fixed_number_of_queries(user, django_assert_num_queries):
    item = PlaidItemFactory(owner=user)
    for n in range(20):
        account = AccountFactory(item=item, type="credit" if n % 4 == 0 else "depository")
        for d in range(0, 30, 3):
            snap(account, TODAY - timedelta(days=d), str(100 + n + d))
    for n in range(5):
        home = manual_accounts.manual_account_create(
            user=user,
            name=f"House {n}",
            kind="asset",
            category="property",
            currency="USD",
            value="1000",
            as_of=TODAY - timedelta(days=25),
        )
        manual_accounts.manual_account_revalue(
            account=home, value="1100", as_of=TODAY - timedelta(days=n)
        )
    with django_assert_num_queries(2):  # linked accounts; manual ones
        counted = history.history_accounts(user=user)
    with django_assert_num_queries(3):  # snapshots before the start; daily; manual values
        (usd,) = history.net_worth_history(
            accounts=counted, start=TODAY - timedelta(days=20), end=TODAY
        )
    assert len(usd.points) == 21


@pytest.mark.parametrize("days_back", [0, 3, 7, 12, 20])
def test_change_from_history_matches_the_query(user, days_back, django_assert_num_queries):
    item = PlaidItemFactory(owner=user)
    cash = AccountFactory(item=item, current=Decimal(900))
    card = AccountFactory(item=item, type="credit", current=Decimal(300))
    later = AccountFactory(item=item, iso_currency_code="CAD", current=Decimal(5))
    closed = AccountFactory(item=item, closed_at=at(TODAY - timedelta(days=4)))
    snap(cash, TODAY - timedelta(days=15), "500")
    snap(cash, TODAY - timedelta(days=6), "700")
    snap(card, TODAY - timedelta(days=9), "100")
    snap(later, TODAY - timedelta(days=2), "5")
    snap(closed, TODAY - timedelta(days=10), "50")
    counted = history.history_accounts(user=user)
    totals = totals_by_currency(accounts.accounts_for_user(user=user), main_currency="USD")
    since = TODAY - timedelta(days=days_back)
    start = TODAY - timedelta(days=13)
    histories = history.net_worth_history(accounts=counted, start=start, end=TODAY)
    with django_assert_num_queries(0):
        from_history = history.net_worth_change_from_history(
            histories=histories, totals=totals, since=since, start=start
        )
    queried = rebuilt_change(user, totals, since=since)
    if since < start:
        assert from_history is None
    else:
        assert from_history == queried


def test_account_history_of_a_closed_account_ends_when_it_closed(user):
    closed = AccountFactory(
        item=PlaidItemFactory(owner=user), closed_at=at(TODAY - timedelta(days=2))
    )
    snap(closed, TODAY - timedelta(days=4), "10")
    points = history.account_history(account=closed, start=None, end=TODAY)
    assert [p.day for p in points] == [TODAY - timedelta(days=d) for d in (4, 3, 2)]
    assert history.account_history(account=AccountFactory(), start=None, end=TODAY) == []


def test_history_never_counts_a_copy_of_another_connections_account():
    user = UserFactory()
    cash = AccountFactory(item=PlaidItemFactory(owner=user), current=Decimal("110"))
    copy = AccountFactory(
        item=PlaidItemFactory(owner=user), current=Decimal("110"), duplicate_of=cash
    )
    for account in (cash, copy):
        snap(account, TODAY - timedelta(days=1), "110")
    assert [a.pk for a in history.history_accounts(user=user)] == [cash.pk]
    net_worth.net_worth_rebuild(user_id=user.pk, end=TODAY)
    (usd,) = history.net_worth_series(user=user, start=TODAY - timedelta(days=2), end=TODAY)
    assert {p.net_worth for p in usd.points} == {Decimal("110")}
