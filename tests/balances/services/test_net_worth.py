"""The daily net-worth totals (NetWorthDay): kept at refresh time, rebuilt from snapshots,
read by the dashboard. Their oracle is `history.net_worth_history`, which sums the
snapshots themselves."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.utils import timezone

from balances.domain.totals import totals_by_currency
from balances.models import Account, BalanceSnapshot, NetWorthDay, PlaidItem
from balances.selectors import accounts, history
from balances.services import linking, net_worth, store, webhooks
from balances.services.net_worth import AccountState
from tests.factories import AccountFactory, PlaidItemFactory, UserFactory

pytestmark = pytest.mark.django_db

DAY0 = date(2026, 3, 1)


def at(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, 12, tzinfo=UTC)


def figures(histories):
    return [(h.currency, [(p.day, p.assets, p.liabilities) for p in h.points]) for h in histories]


def todays_rows(user):
    return {
        r.currency: (r.assets, r.liabilities, r.accounts)
        for r in NetWorthDay.objects.filter(user=user, day=timezone.localdate())
    }


def test_a_refresh_records_todays_totals(refreshed_user):
    # Assets 110 + 210 + 1,000 + 43,200; owed 410 on the card: $44,110.00.
    assert todays_rows(refreshed_user) == {"USD": (Decimal(44520), Decimal(410), 5)}
    (usd,) = history.net_worth_series(user=refreshed_user, start=timezone.localdate())
    assert [p.net_worth for p in usd.points] == [Decimal(44110)]


def test_a_refresh_without_changes_writes_no_totals(refreshed_user):
    # Marked by hand: a refresh that changed nothing must not even rewrite the row.
    NetWorthDay.objects.filter(user=refreshed_user).update(accounts=99)
    store.item_refresh_balances(item=PlaidItem.objects.get(owner=refreshed_user))
    assert todays_rows(refreshed_user) == {"USD": (Decimal(44520), Decimal(410), 99)}


def test_a_changed_balance_updates_todays_row(refreshed_user, fake_plaid):
    item = PlaidItem.objects.get(owner=refreshed_user)
    reply = fake_plaid.replies[item.access_token]
    reply["accounts"][0]["balances"]["current"] = 1110  # checking: +1,000
    store.item_refresh_balances(item=item)
    assert todays_rows(refreshed_user) == {"USD": (Decimal(45520), Decimal(410), 5)}
    assert NetWorthDay.objects.filter(user=refreshed_user).count() == 1  # upserted


def simulate(user, days):
    """Apply each day's changes to the accounts as refreshes and webhooks do: a snapshot
    per new balance, the account saved, the change added to the day's totals."""
    for offset, changes in enumerate(days):
        day = DAY0 + timedelta(days=offset)
        for account, current in changes:
            was = AccountState.of(account)
            if current == "close":
                account.closed_at = at(day)
            else:
                account.current = None if current is None else Decimal(current)
                BalanceSnapshot.objects.create(
                    account=account, taken_at=at(day), current=account.current
                )
            account.save()
            net_worth.net_worth_add(
                user_id=user.pk, before=[was], after=[AccountState.of(account)], day=day
            )
    return DAY0 + timedelta(days=len(days) - 1)


@pytest.fixture
def history_user(settings):
    """Twelve days of a user's accounts: changes, a card, a CAD account that closes and a
    later one, a balance that goes missing, an account closed for good."""
    settings.TIME_ZONE = "UTC"
    user = UserFactory()
    item = PlaidItemFactory(owner=user)
    cash = AccountFactory(item=item, current=None)
    card = AccountFactory(item=item, type="credit", current=None)
    cad = AccountFactory(item=item, iso_currency_code="CAD", current=None)
    cad2 = AccountFactory(item=item, iso_currency_code="CAD", current=None)
    btc = AccountFactory(
        item=item, iso_currency_code="", unofficial_currency_code="BTC", current=None
    )
    end = simulate(
        user,
        [
            [(cash, "100.25")],
            [(card, "40")],
            [],
            [(cad, "7"), (btc, "0.12345678")],
            [(cash, "90")],
            [(cad, "close")],  # CAD gone: no point that day
            [],
            [(cad2, "3"), (card, None)],  # CAD back; the card's balance missing
            [(card, "55.5")],
            [(cash, "close"), (btc, "0.2")],
            [],
            [(card, "60")],
        ],
    )
    return user, end


@pytest.mark.parametrize("start_offset", [None, 0, 2, 5, 9, 11])
def test_recorded_totals_read_like_the_snapshots_sum(history_user, start_offset):
    user, end = history_user
    start = None if start_offset is None else DAY0 + timedelta(days=start_offset)
    expected = history.net_worth_history(
        accounts=history.history_accounts(user=user), start=start, end=end
    )
    assert figures(history.net_worth_series(user=user, start=start, end=end)) == figures(expected)
    assert [h.currency for h in expected] == ["USD", "CAD", "BTC"]


def test_a_rebuild_gives_the_same_series_in_fewer_rows(history_user):
    user, end = history_user
    recorded = figures(history.net_worth_series(user=user, start=None, end=end))
    written = net_worth.net_worth_rebuild(user_id=user.pk, end=end)
    assert figures(history.net_worth_series(user=user, start=None, end=end)) == recorded
    assert written == NetWorthDay.objects.filter(user=user).count()
    (cad_gone,) = NetWorthDay.objects.filter(user=user, currency="CAD", accounts=0)
    assert cad_gone.day == DAY0 + timedelta(days=5)


def test_change_reads_the_totals_on_or_before_the_day(history_user):
    user, _end = history_user
    totals = totals_by_currency(accounts.accounts_for_user(user=user))
    by_currency = {
        c.currency: c.before
        for c in history.net_worth_change(user=user, totals=totals, since=DAY0 + timedelta(days=6))
    }
    # Day 6: cash 90, card 40 owed; CAD's only account closed on day 5.
    assert by_currency == {"USD": Decimal(50), "CAD": None, "BTC": Decimal("0.12345678")}


def test_series_costs_one_query_and_days_not_accounts(django_assert_num_queries):
    user = UserFactory()
    item = PlaidItemFactory(owner=user)
    accounts = [AccountFactory(item=item) for _ in range(30)]  # 110 each
    net_worth.net_worth_add(
        user_id=user.pk, before=[], after=[AccountState.of(a) for a in accounts], day=DAY0
    )
    for offset in range(1, 10):  # one account gains 1 a day
        was = AccountState.of(accounts[0])
        accounts[0].current += 1
        net_worth.net_worth_add(
            user_id=user.pk,
            before=[was],
            after=[AccountState.of(accounts[0])],
            day=DAY0 + timedelta(days=offset),
        )
    assert NetWorthDay.objects.filter(user=user).count() == 10
    with django_assert_num_queries(1):
        (usd,) = history.net_worth_series(
            user=user, start=DAY0 + timedelta(days=3), end=DAY0 + timedelta(days=20)
        )
    assert [p.assets for p in usd.points] == [3303 + min(n, 6) for n in range(18)]


def test_unchanged_figures_write_nothing(django_assert_num_queries):
    account = AccountFactory()
    state = AccountState.of(account)
    with django_assert_num_queries(0):
        assert (
            net_worth.net_worth_add(user_id=account.item.owner_id, before=[state], after=[state])
            == 0
        )


def test_concurrent_writers_of_a_new_day_add_up(monkeypatch):
    """A writer that found no row for the day, then lost the race to create it, adds to
    the row the other writer created."""
    user = UserFactory()
    account = AccountFactory(item=PlaidItemFactory(owner=user), current=Decimal(5))
    NetWorthDay.objects.create(  # the other writer's row, made after our first look
        user=user,
        currency="USD",
        currency_is_official=True,
        day=DAY0,
        assets=Decimal(100),
        liabilities=Decimal(0),
        accounts=1,
    )
    looks: list[str] = []

    def first_look_finds_nothing(execute, sql, params, many, context):
        # The UPDATE of the day and the days after it runs before the other writer's
        # INSERT commits: the day's own row is not there yet (run on the later days only).
        is_days_update = sql.startswith("UPDATE") and "networthday" in sql and '"day" >= ' in sql
        if is_days_update and not looks:
            looks.append(sql)
            return execute(sql.replace('"day" >= ', '"day" > '), params, many, context)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(first_look_finds_nothing):
        net_worth.net_worth_add(
            user_id=user.pk, before=[], after=[AccountState.of(account)], day=DAY0
        )
    assert looks  # the race was played
    (row,) = NetWorthDay.objects.filter(user=user)
    assert (row.assets, row.accounts) == (Decimal(105), 2)


def test_a_new_days_row_starts_from_the_last_day_before_it():
    user = UserFactory()
    account = AccountFactory(item=PlaidItemFactory(owner=user), current=Decimal("5.25"))
    NetWorthDay.objects.create(
        user=user,
        currency="USD",
        currency_is_official=True,
        day=DAY0,
        assets=Decimal("100.10"),
        liabilities=Decimal("7.01"),
        accounts=3,
    )
    later = DAY0 + timedelta(days=3)
    net_worth.net_worth_add(user_id=user.pk, before=[], after=[AccountState.of(account)], day=later)
    rows = NetWorthDay.objects.filter(user=user).order_by("day")
    assert [(r.day, r.assets, r.liabilities, r.accounts) for r in rows] == [
        (DAY0, Decimal("100.10"), Decimal("7.01"), 3),
        (later, Decimal("105.35"), Decimal("7.01"), 4),
    ]


def test_unlink_sums_the_remaining_history_again(refreshed_user, fake_plaid):
    other = PlaidItemFactory(
        owner=refreshed_user, institution_id="ins_other", institution_name="Other Bank"
    )
    fake_plaid.add_item(other.access_token)
    store.item_refresh_balances(item=other)
    assert todays_rows(refreshed_user)["USD"][2] == 10
    linking.item_unlink(item=other)
    assert todays_rows(refreshed_user) == {"USD": (Decimal(44520), Decimal(410), 5)}


def test_unlinking_the_last_item_leaves_no_history(refreshed_user):
    linking.item_unlink(item=PlaidItem.objects.get(owner=refreshed_user))
    assert not NetWorthDay.objects.filter(user=refreshed_user).exists()
    assert history.net_worth_series(user=refreshed_user, start=None) == []


def test_an_account_revoked_by_webhook_leaves_todays_totals(refreshed_user):
    item = PlaidItem.objects.get(owner=refreshed_user)
    card = Account.objects.get(item=item, type="credit")
    result = webhooks.webhook_process(
        payload={
            "webhook_type": "ITEM",
            "webhook_code": "USER_ACCOUNT_REVOKED",
            "item_id": item.plaid_item_id,
            "account_id": card.plaid_account_id,
        }
    )
    assert result.detail == "account closed"
    assert todays_rows(refreshed_user) == {"USD": (Decimal(44520), Decimal(0), 4)}


def test_rebuild_command_for_everyone_and_for_one_user(refreshed_user, capsys):
    NetWorthDay.objects.all().delete()
    call_command("rebuild_net_worth")
    assert "Rebuilt 1 user(s): 1 daily row(s)." in capsys.readouterr().out
    assert todays_rows(refreshed_user) == {"USD": (Decimal(44520), Decimal(410), 5)}
    call_command("rebuild_net_worth", user=refreshed_user.username)
    assert f"Rebuilt {refreshed_user.username}: 1 daily row(s)." in capsys.readouterr().out
    with pytest.raises(CommandError, match="No user named 'nobody'"):
        call_command("rebuild_net_worth", user="nobody")


def test_a_change_stored_late_for_a_day_reaches_the_days_after_it():
    """A store whose clock read 23:59:59 commits after the next day's row was started."""
    user = UserFactory()
    account = AccountFactory(item=PlaidItemFactory(owner=user), current=Decimal(10))
    net_worth.net_worth_add(user_id=user.pk, before=[], after=[AccountState.of(account)], day=DAY0)
    day1 = DAY0 + timedelta(days=1)
    other = AccountFactory(item=account.item, current=Decimal(5))
    net_worth.net_worth_add(user_id=user.pk, before=[], after=[AccountState.of(other)], day=day1)
    was = AccountState.of(account)
    account.current = Decimal(30)  # the late one: day 0's last change
    net_worth.net_worth_add(
        user_id=user.pk, before=[was], after=[AccountState.of(account)], day=DAY0
    )
    (usd,) = history.net_worth_series(user=user, start=DAY0, end=day1)
    assert [p.assets for p in usd.points] == [Decimal(30), Decimal(35)]


def test_a_copy_of_another_connections_account_adds_nothing(refreshed_user, fake_plaid):
    from tests.helpers import link_again

    again = link_again(fake_plaid, refreshed_user)
    copy = Account.objects.filter(item=again).first()
    assert AccountState.of(copy).current is None
    # A refresh of the copy's connection with changed balances changes no total.
    for account in fake_plaid.replies[again.access_token]["accounts"]:
        account["balances"]["current"] += 1000
    store.item_refresh_balances(item=again)
    usd = NetWorthDay.objects.get(user=refreshed_user, currency="USD", day=timezone.localdate())
    assert (usd.net_worth, usd.accounts) == (Decimal("44110"), 5)
    net_worth.net_worth_rebuild(user_id=refreshed_user.pk)
    usd = NetWorthDay.objects.get(user=refreshed_user, currency="USD", day=timezone.localdate())
    assert (usd.net_worth, usd.accounts) == (Decimal("44110"), 5)
