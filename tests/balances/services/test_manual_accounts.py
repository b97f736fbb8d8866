"""Accounts entered by hand: their writes, and the daily totals they keep. The oracle of
the totals is `net_worth_rebuild` (computed from snapshots and manual values) and
`history.net_worth_history`, which sums them itself."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.utils import timezone

from balances.domain.totals import totals_by_currency
from balances.models import ManualAccount, ManualValue, NetWorthDay, PlaidItem
from balances.selectors import accounts, history
from balances.services import manual_accounts, net_worth, store
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def figures(histories):
    return [(h.currency, [(p.day, p.assets, p.liabilities) for p in h.points]) for h in histories]


def series(user, start=None):
    return figures(history.net_worth_series(user=user, start=start))


def oracle(user, start=None):
    return figures(
        history.net_worth_history(
            accounts=history.history_accounts(user=user), start=start, end=timezone.localdate()
        )
    )


def house(user, value="350000", **kwargs):
    args = {
        "user": user,
        "name": "House",
        "kind": "asset",
        "category": "property",
        "currency": "USD",
        "value": value,
    }
    return manual_accounts.manual_account_create(**{**args, **kwargs})


def car_loan(user, value="12000", **kwargs):
    args = {
        "user": user,
        "name": "Car loan",
        "kind": "liability",
        "category": "loan",
        "currency": "usd",
        "value": value,
    }
    return manual_accounts.manual_account_create(**{**args, **kwargs})


def now_net_worth(user):
    (usd,) = totals_by_currency(
        [*accounts.account_balances(user=user), *accounts.manual_balances(user=user)]
    )
    return usd.net_worth


def test_the_done_when_scenario_in_totals_and_daily_history(refreshed_user, fake_plaid):
    user = refreshed_user
    home = house(user)
    car_loan(user)
    today = timezone.localdate()
    assert now_net_worth(user) == Decimal("382110")
    assert history.net_worth_series(user=user, start=today)[0].points[-1].net_worth == Decimal(
        "382110"
    )
    manual_accounts.manual_account_revalue(account=home, value="360000")
    home.refresh_from_db()
    assert (home.value, home.value_as_of) == (Decimal(360000), today)
    assert now_net_worth(user) == Decimal("392110")
    (usd,) = history.net_worth_series(user=user, start=today)
    assert usd.points[-1].net_worth == Decimal("392110")
    # A refresh of the bank keeps the manual accounts in the day's totals.
    item = PlaidItem.objects.get(owner=user)
    fake_plaid.replies[item.access_token]["accounts"][0]["balances"]["current"] = 1110
    store.item_refresh_balances(item=item)
    (usd,) = history.net_worth_series(user=user, start=today)
    assert usd.points[-1].net_worth == Decimal("393110")
    assert series(user) == oracle(user)
    kept = series(user)
    net_worth.net_worth_rebuild(user_id=user.pk)
    assert series(user) == kept


def test_every_value_is_kept_as_dated_history():
    user = UserFactory()
    home = house(user, as_of=timezone.localdate() - timedelta(days=400))
    manual_accounts.manual_account_revalue(account=home, value="360000")
    assert list(ManualValue.objects.filter(account=home).values_list("value", flat=True)) == [
        Decimal(350000),
        Decimal(360000),
    ]


def test_a_past_value_counts_from_its_day_until_the_next_value():
    user = UserFactory()
    today = timezone.localdate()
    home = house(user, value="300000", as_of=today - timedelta(days=10))
    manual_accounts.manual_account_revalue(
        account=home, value="340000", as_of=today - timedelta(days=3)
    )
    # Entered later for an earlier day: it changes days 6..4 before the visible value.
    manual_accounts.manual_account_revalue(
        account=home, value="320000", as_of=today - timedelta(days=6)
    )
    home.refresh_from_db()
    assert (home.value, home.value_as_of) == (Decimal(340000), today - timedelta(days=3))
    (usd,) = history.net_worth_series(user=user, start=today - timedelta(days=12))
    by_day = {p.day: p.net_worth for p in usd.points}
    assert today - timedelta(days=11) not in by_day  # nothing before its first value
    assert by_day[today - timedelta(days=10)] == Decimal(300000)
    assert by_day[today - timedelta(days=7)] == Decimal(300000)
    assert by_day[today - timedelta(days=6)] == Decimal(320000)
    assert by_day[today - timedelta(days=4)] == Decimal(320000)
    assert by_day[today - timedelta(days=3)] == Decimal(340000)
    assert by_day[today] == Decimal(340000)
    assert series(user) == oracle(user)
    kept = series(user)
    net_worth.net_worth_rebuild(user_id=user.pk)
    assert series(user) == kept


def test_two_values_of_one_day_count_the_last_entered():
    user = UserFactory()
    home = house(user, value="1")
    manual_accounts.manual_account_revalue(account=home, value="2")
    manual_accounts.manual_account_revalue(account=home, value="3")
    assert series(user)[0][1][-1][1] == Decimal(3)
    assert series(user) == oracle(user)


def test_a_deleted_account_leaves_every_day_of_the_history(refreshed_user):
    user = refreshed_user
    before = series(user)
    today = timezone.localdate()
    home = house(user, as_of=today - timedelta(days=30))
    manual_accounts.manual_account_revalue(account=home, value="1", as_of=today - timedelta(days=2))
    assert series(user) != before
    manual_accounts.manual_account_delete(account=home)
    assert not ManualAccount.objects.exists() and not ManualValue.objects.exists()
    # The days before the bank's first refresh only say the currency had no account.
    assert series(user) == before
    assert series(user) == oracle(user)


def test_editing_kind_and_currency_moves_the_whole_history():
    user = UserFactory()
    today = timezone.localdate()
    thing = house(user, value="500", as_of=today - timedelta(days=5))
    manual_accounts.manual_account_revalue(account=thing, value="700")
    manual_accounts.manual_account_update(
        account=thing, name="Loan", kind="liability", category="loan", currency="EUR"
    )
    assert [c for c, _ in series(user)] == ["EUR"]  # USD has no account left in the series
    assert series(user) == oracle(user)
    (eur,) = history.net_worth_series(user=user, start=today)
    assert eur.points[-1].liabilities == Decimal(700)
    assert NetWorthDay.objects.filter(user=user, currency="USD", day=today).get().accounts == 0


def test_currencies_are_never_summed_and_crypto_stays_apart():
    user = UserFactory()
    house(user, currency="EUR", value="100")
    wallet = manual_accounts.manual_account_create(
        user=user, name="Wallet", kind="asset", category="crypto", currency="btc", value="0.5"
    )
    assert (wallet.iso_currency_code, wallet.unofficial_currency_code) == ("", "BTC")
    totals = totals_by_currency(accounts.manual_balances(user=user), main_currency="EUR")
    assert [(t.currency, t.currency_is_official, t.net_worth) for t in totals] == [
        ("EUR", True, Decimal(100)),
        ("BTC", False, Decimal("0.5")),
    ]


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("value", "12abc", "Enter a number"),
        ("value", "NaN", "Enter a number"),
        ("value", "-5", "positive"),
        ("value", 1.5, "decimal number in text"),
        ("value", "1e30", "too large"),
        ("currency", "XYZ", "Unknown currency"),
        ("currency", "BTC", "Unknown currency"),  # a ticker is for crypto only
        ("category", "boat", "Unknown category"),
        ("kind", "both", "asset or liability"),
        ("name", "   ", "Enter a name"),
        ("as_of", date(2999, 1, 1), "future"),
    ],
)
def test_bad_input_saves_nothing(field, value, message):
    user = UserFactory()
    with pytest.raises(ValidationError) as raised:
        house(user, **{field: value})
    assert message in " ".join(raised.value.message_dict[field])
    assert not ManualAccount.objects.exists()
    assert not NetWorthDay.objects.exists()


def test_a_bad_revalue_changes_nothing():
    user = UserFactory()
    home = house(user)
    with pytest.raises(ValidationError):
        manual_accounts.manual_account_revalue(account=home, value="lots")
    home.refresh_from_db()
    assert home.value == Decimal(350000)
    assert ManualValue.objects.count() == 1


def test_rebuild_all_counts_users_with_only_manual_accounts():
    user = UserFactory()
    house(user, as_of=timezone.localdate() - timedelta(days=3))
    kept = series(user)
    NetWorthDay.objects.all().delete()
    call_command("rebuild_net_worth", stdout=None)
    assert series(user) == kept
