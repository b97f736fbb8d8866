"""`balances.selectors.dashboard`: everything the dashboard shows, in a number of queries
that is flat in accounts and Items (issue 8, target 1).

5 accounts in 1 Item, 100 in 20 and 1,000 in 200 (bench/dashboard.py's sizes), each with
history, and a fifth as many accounts entered by hand, each with dated values:
`dashboard_for_user` runs the same number of queries for all three users, at most 7, and
so does every dashboard request (at most 10, with the session's); the page lists a
bounded number of rows while its totals count every account. Times are measured by the
benchmark, never here.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from balances.models import (
    Account,
    BalanceSnapshot,
    ManualAccount,
    ManualValue,
    PlaidItem,
    Profile,
)
from balances.selectors.dashboard import dashboard_for_user
from balances.services import households as sharing
from balances.services import net_worth
from tests.factories import PlaidItemFactory, UserFactory
from tests.helpers import body

pytestmark = pytest.mark.django_db

SIZES = ((5, 1), (100, 20), (1000, 200))
PATHS = ("/", "/?range=1y&since=1m", "/?range=all", "/api/dashboard/?range=1y")


def make_user_with(accounts: int, items: int, *, linked_twice: bool = False):
    """A user with `accounts` accounts over `items` Items at different banks; with
    `linked_twice`, one more Item at the first bank holding a copy of its first account
    (a bank linked twice: the labels with masks show, totals and lists are unchanged)."""
    user = UserFactory()
    made = [
        PlaidItemFactory(
            owner=user,
            institution_name=f"Bank {n}",  # one connection per bank (see the linked-twice test)
            # Each user's own banks: two users' accounts never look like one joint account.
            institution_id=f"ins_{user.pk}_{n}",
            last_refreshed_at=timezone.now(),
            # Fresh real-time balances: opening the page queues no refresh (its own test).
            last_realtime_at=timezone.now(),
        )
        for n in range(items)
    ]
    types = ["depository", "credit", "investment", "loan", "other"]
    Account.objects.bulk_create(
        Account(
            item=made[n % items],
            plaid_account_id=f"acct-{user.pk}-{n}",
            name=f"Account {n}",
            mask=f"{n:04d}",
            type=types[n % 5],
            iso_currency_code="CAD" if n % 7 == 0 else "USD",
            available=Decimal(n),
            current=Decimal(n + 10),
            limit=Decimal(5000) if n % 5 == 1 else None,
        )
        for n in range(accounts)
    )
    now = timezone.now()
    BalanceSnapshot.objects.bulk_create(
        BalanceSnapshot(account=a, taken_at=now - timedelta(days=d), current=a.current + d)
        for a in Account.objects.filter(item__owner=user)
        for d in (0, 5, 40, 200)
    )
    assert PlaidItem.objects.filter(owner=user).count() == items
    manual = ManualAccount.objects.bulk_create(
        ManualAccount(
            owner=user,
            name=f"By hand {n}",
            kind="liability" if n % 2 else "asset",
            category="loan" if n % 2 else ("property", "cash", "vehicle")[n % 3],
            iso_currency_code="USD",
            value=Decimal(1000 + n),
            value_as_of=timezone.localdate(),
        )
        for n in range(manual_count(accounts))
    )
    ManualValue.objects.bulk_create(
        ManualValue(account=m, value=m.value + d, as_of=timezone.localdate() - timedelta(days=d))
        for m in manual
        for d in (0, 30, 300)
    )
    if linked_twice:
        first = Account.objects.filter(item=made[0]).order_by("pk").first()
        assert first is not None
        again = PlaidItemFactory(
            owner=user,
            institution_id=made[0].institution_id,
            institution_name=made[0].institution_name,
            last_refreshed_at=timezone.now(),
            last_realtime_at=timezone.now(),
        )
        Account.objects.create(
            item=again,
            plaid_account_id=f"acct-{user.pk}-again",
            name=first.name,
            mask=first.mask,
            type=first.type,
            iso_currency_code=first.iso_currency_code,
            current=first.current,
            duplicate_of=first,
        )
    net_worth.net_worth_rebuild(user_id=user.pk)
    return user


def manual_count(accounts: int) -> int:
    return max(1, accounts // 5)


def usd_net_worth(accounts: int) -> int:
    """The USD net worth of `make_user_with(accounts, ...)`: every account counts, those
    entered by hand too."""
    usd = sum(n + 10 for n in range(accounts) if n % 7 and n % 5 not in (1, 3))
    usd -= sum(n + 10 for n in range(accounts) if n % 7 and n % 5 in (1, 3))
    manual = range(manual_count(accounts))
    return (
        usd + sum(1000 + n for n in manual if n % 2 == 0) - sum(1000 + n for n in manual if n % 2)
    )


# (range, period): the change read off the chart's days, or (3m before 30d) queried.
RANGES_AND_PERIODS = (("90d", "1m"), ("1y", "1m"), ("all", "1w"), ("30d", "3m"))


def test_dashboard_for_user_queries_are_the_same_for_5_100_and_1000_accounts(
    django_assert_max_num_queries,
):
    counts: dict[tuple[str, str], list[int]] = {key: [] for key in RANGES_AND_PERIODS}
    for accounts, items in SIZES:
        user = make_user_with(accounts, items)
        for range_key, period_key in RANGES_AND_PERIODS:
            with (
                django_assert_max_num_queries(7),
                CaptureQueriesContext(connection) as queries,
            ):
                dashboard = dashboard_for_user(
                    user=user,
                    range_key=range_key,
                    period_key=period_key,
                    accounts_per_group=20,
                    connections_shown=20,
                )
            counts[(range_key, period_key)].append(len(queries))
            # Bounded: at most 20 accounts per group, 20 connections; counts are whole.
            assert sum(len(g.accounts) for g in dashboard.groups) == min(accounts, 5 * 20)
            shown_manual = sum(len(g.manual) for g in dashboard.groups)
            assert 0 < shown_manual <= min(manual_count(accounts), 4 * 20)
            assert sum(g.count for g in dashboard.groups) == accounts + manual_count(accounts)
            assert len(dashboard.connections) == min(items, 20)
            assert dashboard.connections_hidden == items - min(items, 20)
            usd = next(t for t in dashboard.totals if t.currency == "USD")
            assert usd.net_worth == usd_net_worth(accounts)
            assert dashboard.history and dashboard.changes["USD"].before is not None
    for key, per_size in counts.items():
        assert len(set(per_size)) == 1, (key, per_size)
    # Reading the change off the chart saves the query the 3m-before-30d case needs.
    assert counts[("90d", "1m")][0] < counts[("30d", "3m")][0]


def test_dashboard_requests_queries_are_the_same_for_5_100_and_1000_accounts(
    client, django_assert_max_num_queries, settings
):
    """The same queries at every size, with a bank linked twice at every size (the
    connections' labels with masks cost no query of their own). At most 9 through the
    test client: session, user (whether two-factor is on read with it), unread alerts and
    the 6 of `dashboard_for_user` (the chart's range holds the change's day)."""
    settings.DASHBOARD_ACCOUNTS_PER_GROUP = 20
    settings.DASHBOARD_CONNECTIONS_SHOWN = 20
    counts: dict[str, list[int]] = {path: [] for path in PATHS}
    for accounts, items in SIZES:
        client.force_login(make_user_with(accounts, items, linked_twice=True))
        for path in PATHS:
            with (
                django_assert_max_num_queries(9),
                CaptureQueriesContext(connection) as queries,
            ):
                response = client.get(path)
                page = body(response)  # `/` streams: its figures are read as it is sent
            assert response.status_code == 200
            counts[path].append(len(queries))
            if path == "/":
                # At most 20 per type; every Item is fresh, so at most 20 connections.
                assert page.count('<tr class="account"') == min(accounts, 5 * 20)
                assert 0 < page.count('<tr class="account manual"') <= 4 * 20
                assert "entered by hand" in page
                assert page.count('<li class="connection') == min(items + 1, 20)
                assert "Bank 0 (…0000)" in page  # the two connections at Bank 0, apart
                # The headline counts every account: sum(n + 10) over the USD ones.
                assert f"${usd_net_worth(accounts):,}.00" in page
        # Every account is listed (a cut list would be flat for the wrong reason), and the
        # copy at the bank linked twice (marked as one).
        listed = sum(len(group["accounts"]) for group in response.json()["groups"])
        assert listed == accounts + 1
    for path, per_size in counts.items():
        assert len(set(per_size)) == 1, (path, per_size)


def test_connections_needing_attention_are_shown_then_others_up_to_the_limit():
    user = UserFactory()
    now = timezone.now()
    fine = [
        PlaidItemFactory(owner=user, institution_name=f"Fine {n}", last_refreshed_at=now)
        for n in range(3)
    ]
    failing = [
        PlaidItemFactory(
            owner=user,
            institution_name=f"Failing {n}",
            last_refreshed_at=now,
            status=PlaidItem.Status.ERROR,
        )
        for n in range(2)
    ]

    def shown(limit):
        dashboard = dashboard_for_user(
            user=user, range_key="90d", period_key="1m", connections_shown=limit
        )
        return [f.item for f in dashboard.connections], dashboard.connections_hidden

    assert shown(None) == ([*failing, *fine], 0)  # every one, by institution
    assert shown(3) == ([*failing, fine[0]], 2)
    assert shown(1) == (failing, 3)  # those needing attention, even beyond the limit


def test_pending_while_any_item_refreshes_and_the_headline_pairs_totals_with_changes():
    user = UserFactory()
    item = PlaidItemFactory(owner=user, last_refreshed_at=timezone.now())
    Account.objects.create(
        item=item,
        plaid_account_id="a",
        name="Checking",
        type="depository",
        iso_currency_code="USD",
        current=Decimal(50),
    )
    Account.objects.create(
        item=item,
        plaid_account_id="b",
        name="Coins",
        type="investment",
        unofficial_currency_code="BTC",
        current=Decimal(1),
    )
    dashboard = dashboard_for_user(user=user, range_key="30d", period_key="1w")
    assert not dashboard.pending
    assert [(t.currency, c.currency) for t, c in dashboard.headline] == [
        ("USD", "USD"),
        ("BTC", "BTC"),
    ]
    assert (dashboard.range_label, dashboard.period_label) == ("30 days", "1 week")
    assert dashboard.since == dashboard.today - timedelta(days=7)
    PlaidItem.objects.filter(pk=item.pk).update(refresh_requested_at=timezone.now())
    assert dashboard_for_user(user=user, range_key="30d", period_key="1w").pending


def test_a_refresh_committing_mid_read_shows_as_pending_never_as_done_without_accounts(
    fake_plaid, monkeypatch
):
    """The first refresh of a new link may commit while the dashboard is being read: the
    page must then still say "pending" (it polls and updates itself), never "done" with no
    accounts (it would wait forever). A concurrent commit is injected before the accounts
    are read."""
    from balances.selectors import accounts
    from balances.services import pending, store

    user = UserFactory()
    item = PlaidItemFactory(owner=user)
    fake_plaid.add_item(item.access_token)
    assert pending.item_pending_mark(item_id=item.pk)
    real = accounts.account_balances

    def balances_after_a_concurrent_refresh(*, user, household=False):
        store.item_refresh_balances(item=PlaidItem.objects.get(pk=item.pk))
        return real(user=user, household=household)

    monkeypatch.setattr(accounts, "account_balances", balances_after_a_concurrent_refresh)
    board = dashboard_for_user(user=user, range_key="90d", period_key="1m")
    shown = sum(len(group.accounts) for group in board.groups)
    assert board.pending or shown == 5, (board.pending, shown)
    assert board.pending  # the Items were read before the refresh committed


@pytest.mark.django_db
def test_a_bank_linked_twice_counts_once_on_the_dashboard(refreshed_user, fake_plaid):
    from tests.helpers import link_again

    link_again(fake_plaid, refreshed_user)
    board = dashboard_for_user(user=refreshed_user, range_key="30d", period_key="1m")
    (usd,) = [t for t in board.totals if t.currency == "USD"]
    assert usd.net_worth == Decimal("44110")
    usd_history = next(h for h in board.history if h.currency == "USD")
    assert usd_history.points[-1].net_worth == Decimal("44110")  # the chart's daily totals
    assert sum(g.count for g in board.groups) == 5


def test_connections_at_one_bank_cost_no_query_more_whatever_their_accounts(
    django_assert_max_num_queries,
):
    """Telling two connections at one institution apart (their masks) reads nothing more
    than the dashboard reads anyway: as many queries as with every connection at another
    bank, at every size."""
    counts = []
    for accounts, items in SIZES:
        plain = make_user_with(accounts, items)
        twice = make_user_with(accounts, items, linked_twice=True)
        for user in (plain, twice):
            with (
                django_assert_max_num_queries(7),
                CaptureQueriesContext(connection) as queries,
            ):
                board = dashboard_for_user(
                    user=user,
                    range_key="90d",
                    period_key="1m",
                    accounts_per_group=20,
                    connections_shown=None,
                )
            counts.append(len(queries))
        twins = [entry for entry in board.items if entry.item.institution_name == "Bank 0"]
        labels = [entry.label for entry in twins]  # the first connection, then the copy's
        assert labels[0].startswith("Bank 0 (…0000") and labels[1] == "Bank 0 (…0000)"
        assert all(entry.shares_accounts for entry in twins)
        assert not any(" (…" in e.label for e in board.items if e not in twins)
        usd = next(t for t in board.totals if t.currency == "USD")
        assert usd.net_worth == usd_net_worth(accounts)  # the copy counts once
    assert len(set(counts)) == 1, counts


def test_main_currency_and_the_household_offer_come_in_one_query():
    """The user's main currency and whether anyone shares with them are read together;
    the household view is offered only once a share is accepted."""
    alice, bob = UserFactory(username="alice"), UserFactory(username="bob")
    PlaidItemFactory(owner=alice)
    Profile.objects.create(user=bob, main_currency="CAD")

    def board(user, **kwargs):
        return dashboard_for_user(user=user, range_key="30d", period_key="1w", **kwargs)

    assert (board(bob).main_currency, board(bob).has_household) == ("CAD", False)
    share = sharing.share_invite(owner=alice, username="bob")
    assert not board(bob).has_household  # invited is not accepted
    sharing.share_accept(share=share)
    assert (board(bob).main_currency, board(bob).has_household) == ("CAD", True)
    assert board(bob, household=True).has_household
    assert (board(alice).main_currency, board(alice).has_household) == ("USD", False)
    sharing.share_end(share=share)
    assert not board(bob).has_household
