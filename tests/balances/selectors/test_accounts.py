"""`balances.selectors.accounts`: a user's accounts, the dashboard's groups, balances."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from balances.models import Account, Profile
from balances.selectors import accounts
from tests.balances.domain.test_totals import accounts_from_example
from tests.factories import AccountFactory, BalanceSnapshotFactory, PlaidItemFactory, UserFactory

CLOSED = datetime(2026, 1, 1, tzinfo=UTC)


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
    unusual = [
        Account(type="brokerage", iso_currency_code="USD", current=Decimal("5")),
        Account(type="something-new", iso_currency_code="USD", current=Decimal("7")),
    ]
    assert [g.key for g in accounts.group_accounts(unusual)] == ["investment", "other"]


def test_subtotals_never_add_currencies_and_put_the_main_one_first():
    mixed = [
        Account(type="depository", iso_currency_code="USD", current=Decimal("10")),
        Account(type="depository", iso_currency_code="CAD", current=Decimal("20")),
        Account(type="depository", iso_currency_code="CAD", current=Decimal("1")),
        Account(type="depository", unofficial_currency_code="BTC", current=Decimal("0.5")),
        Account(type="depository", iso_currency_code="EUR", current=None),
    ]
    (cash,) = accounts.group_accounts(mixed, main_currency="CAD")
    assert [(s.currency, s.currency_is_official, s.amount) for s in cash.subtotals] == [
        ("CAD", True, Decimal("21")),
        ("USD", True, Decimal("10")),
        ("BTC", False, Decimal("0.5")),
    ]
    assert cash.count == 5  # the account without a balance is listed, not summed
    assert not cash.is_cut_short


@pytest.mark.django_db
def test_accounts_for_user_only_returns_own_open_accounts():
    alice, bob = UserFactory(), UserFactory()
    mine = AccountFactory(item=PlaidItemFactory(owner=alice))
    AccountFactory(item=PlaidItemFactory(owner=bob))
    closed = AccountFactory(item=mine.item)
    Account.objects.filter(pk=closed.pk).update(closed_at="2026-01-01T00:00:00Z")
    assert list(accounts.accounts_for_user(user=alice)) == [mine]


@pytest.mark.django_db
def test_account_balances_are_the_open_accounts_as_values(django_assert_num_queries):
    user = UserFactory()
    item = PlaidItemFactory(owner=user)
    cash = AccountFactory(item=item, current=Decimal("110"))
    card = AccountFactory(item=item, type="credit", current=Decimal("40"))
    coin = AccountFactory(
        item=item, iso_currency_code="", unofficial_currency_code="BTC", current=None
    )
    AccountFactory(item=item, closed_at=CLOSED)
    AccountFactory()  # another user's
    with django_assert_num_queries(1):
        balances = accounts.account_balances(user=user)
    assert sorted(balances, key=lambda b: b.pk) == [
        accounts.AccountBalance(cash.pk, "depository", "USD", True, Decimal("110")),
        accounts.AccountBalance(card.pk, "credit", "USD", True, Decimal("40")),
        accounts.AccountBalance(coin.pk, "depository", "BTC", False, None),
    ]
    assert [b.is_liability for b in sorted(balances, key=lambda b: b.pk)] == [False, True, False]


def test_group_balances_count_every_account_and_attach_none():
    balances = [
        accounts.AccountBalance(1, "depository", "USD", True, Decimal("5")),
        accounts.AccountBalance(2, "loan", "USD", True, Decimal("100")),
        accounts.AccountBalance(3, "depository", "USD", True, Decimal("7")),
    ]
    groups = accounts.group_balances(balances)
    assert [(g.key, g.count, g.accounts, g.is_liability) for g in groups] == [
        ("depository", 2, [], False),
        ("loan", 1, [], True),
    ]
    assert [s.amount for s in groups[0].subtotals] == [Decimal("12")]
    assert groups[0].is_cut_short  # two accounts, none attached yet


def test_largest_per_group_keeps_the_heaviest_balances():
    balances = [
        accounts.AccountBalance(1, "depository", "USD", True, Decimal("5")),
        accounts.AccountBalance(2, "depository", "USD", True, Decimal("-50")),  # overdrawn
        accounts.AccountBalance(3, "depository", "USD", True, None),
        accounts.AccountBalance(4, "depository", "USD", True, Decimal("20")),
        accounts.AccountBalance(5, "credit", "USD", True, Decimal("1")),
        accounts.AccountBalance(6, "depository", "USD", True, Decimal("20")),
    ]
    assert accounts.largest_per_group(balances, limit=3) == {"depository": [2, 4, 6], "credit": [5]}
    assert accounts.largest_per_group(balances, limit=10)["depository"] == [2, 4, 6, 1, 3]


@pytest.mark.django_db
def test_accounts_in_group():
    user = UserFactory()
    item = PlaidItemFactory(owner=user)
    investment = AccountFactory(item=item, type="investment", name="B")
    brokerage = AccountFactory(item=item, type="brokerage", name="A")
    odd = AccountFactory(item=item, type="something-new")
    other = AccountFactory(item=item, type="other")
    AccountFactory(item=item, type="investment", closed_at=CLOSED)
    AccountFactory(type="investment")  # another user's
    assert list(accounts.accounts_in_group(user=user, key="investment")) == [
        brokerage,
        investment,
    ]
    assert set(accounts.accounts_in_group(user=user, key="other")) == {odd, other}
    assert not accounts.accounts_in_group(user=user, key="loan").exists()


@pytest.mark.django_db
def test_lookups_by_pk_are_the_users_own():
    user = UserFactory()
    item = PlaidItemFactory(owner=user)
    closed = AccountFactory(item=item, closed_at=CLOSED)
    theirs = AccountFactory()
    assert accounts.item_for_user(user=user, pk=item.pk) == item
    assert accounts.item_for_user(user=user, pk=theirs.item.pk) is None
    assert accounts.account_for_user(user=user, pk=closed.pk) == closed  # closed ones too
    assert accounts.account_for_user(user=user, pk=theirs.pk) is None


@pytest.mark.django_db
def test_items_for_user_by_institution():
    user = UserFactory()
    wells = PlaidItemFactory(owner=user, institution_name="Wells Fargo")
    chase = PlaidItemFactory(owner=user, institution_name="Chase")
    PlaidItemFactory(institution_name="Ally")  # another user's
    assert list(accounts.items_for_user(user=user)) == [chase, wells]


@pytest.mark.django_db
def test_open_accounts_and_snapshot_count_of_an_item():
    item = PlaidItemFactory()
    account = AccountFactory(item=item)
    closed = AccountFactory(item=item, closed_at=CLOSED)
    for a in (account, account, closed):
        BalanceSnapshotFactory(account=a)
    BalanceSnapshotFactory()  # another Item's
    assert accounts.open_accounts(item=item) == [account]
    assert accounts.snapshot_count(item=item) == 3


@pytest.mark.django_db
def test_main_currency_and_currencies():
    user = UserFactory()
    assert accounts.main_currency_for(user=user) == "USD"
    AccountFactory(item=PlaidItemFactory(owner=user), iso_currency_code="CAD")
    AccountFactory(
        item=PlaidItemFactory(owner=user), iso_currency_code="", unofficial_currency_code="BTC"
    )
    assert accounts.currencies_for_user(user=user) == ["CAD"]
    Profile.objects.create(user=user, main_currency="CAD")
    assert accounts.main_currency_for(user=user) == "CAD"


@pytest.mark.django_db
def test_an_account_linked_twice_counts_once_in_balances_and_groups(refreshed_user, fake_plaid):
    from balances.domain.totals import totals_by_currency
    from tests.helpers import link_again

    link_again(fake_plaid, refreshed_user)  # the checking account and the card again
    balances = accounts.account_balances(user=refreshed_user)
    assert len(balances) == 5
    (usd,) = totals_by_currency(balances)
    assert usd.net_worth == Decimal("44110")
    groups = {g.key: g for g in accounts.group_balances(balances)}
    assert groups["credit"].count == 1
    assert groups["credit"].subtotals[0].amount == Decimal("410")
    # Shown: both copies, the second marked with the account it repeats.
    copies = [a for a in accounts.accounts_for_user(user=refreshed_user) if a.duplicate_of]
    assert sorted(a.mask for a in copies) == ["0000", "3333"]


@pytest.mark.django_db
def test_balances_as_of_ignores_a_copy_of_another_connections_account(refreshed_user, fake_plaid):
    from tests.helpers import link_again

    before = accounts.balances_as_of(user=refreshed_user)
    copy = Account.objects.get(pk=link_again(fake_plaid, refreshed_user, (0,)).accounts.get().pk)
    Account.objects.filter(pk=copy.pk).update(balances_updated_at=datetime(2020, 1, 1, tzinfo=UTC))
    assert accounts.balances_as_of(user=refreshed_user) == before
