"""`balances.selectors.households`: nothing is visible unless its owner shared it, each
account counts once, and the household dashboard's queries stay flat in accounts, owners
and shares (5, 100 and 1,000 visible accounts across three owners)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from balances.domain.totals import totals_by_currency
from balances.models import Account, BalanceSnapshot, HouseholdShare, ManualAccount, PlaidItem
from balances.selectors import accounts, history, households
from balances.selectors.dashboard import dashboard_for_user
from balances.services import households as sharing
from balances.services import net_worth
from tests.balances.selectors.test_dashboard import make_user_with, manual_count, usd_net_worth
from tests.factories import AccountFactory, ManualAccountFactory, PlaidItemFactory, UserFactory
from tests.helpers import body

pytestmark = pytest.mark.django_db


def _share(owner, viewer, **scope):
    share = sharing.share_invite(owner=owner, username=viewer.username, **scope)
    return sharing.share_accept(share=share)


def _visible(user, household=True):
    return {a.pk for a in accounts.accounts_for_user(user=user, household=household)}


def _usd(user, household=True):
    totals = totals_by_currency(
        [
            *accounts.account_balances(user=user, household=household),
            *accounts.manual_balances(user=user, household=household),
        ]
    )
    return next(t for t in totals if t.currency == "USD").net_worth


@pytest.fixture
def pair():
    alice, bob = UserFactory(username="alice"), UserFactory(username="bob")
    a1 = AccountFactory(item=PlaidItemFactory(owner=alice), current=Decimal(100))
    a2 = AccountFactory(item=a1.item, current=Decimal(20))
    b1 = AccountFactory(item=PlaidItemFactory(owner=bob), current=Decimal(3))
    return alice, bob, a1, a2, b1


def test_nothing_shows_until_accepted_and_nothing_after_the_end(pair):
    alice, bob, a1, a2, b1 = pair
    assert _visible(bob) == {b1.pk}
    share = sharing.share_invite(owner=alice, username="bob")
    assert _visible(bob) == {b1.pk}  # invited is not accepted
    assert households.visible_account(user=bob, pk=a1.pk) is None
    sharing.share_accept(share=share)
    assert _visible(bob) == {a1.pk, a2.pk, b1.pk}
    assert _visible(bob, household=False) == {b1.pk}  # "Mine" stays mine
    assert households.visible_account(user=bob, pk=a1.pk) == a1
    sharing.share_end(share=share)
    assert _visible(bob) == {b1.pk}
    assert households.visible_account(user=bob, pk=a1.pk) is None
    # The owner never sees the viewer's accounts through their own share.
    assert _visible(alice) == {a1.pk, a2.pk}


def test_declined_shows_nothing(pair):
    alice, bob, _a1, _a2, b1 = pair
    sharing.share_decline(share=sharing.share_invite(owner=alice, username="bob"))
    assert _visible(bob) == {b1.pk}
    assert not households.has_household(user=bob)


def test_sharing_all_includes_accounts_linked_later(pair):
    alice, bob, a1, a2, b1 = pair
    _share(alice, bob)
    later = AccountFactory(item=PlaidItemFactory(owner=alice))
    assert _visible(bob) == {a1.pk, a2.pk, b1.pk, later.pk}


def test_chosen_accounts_only_and_changes_apply_at_once(pair):
    alice, bob, a1, a2, b1 = pair
    house = ManualAccountFactory(owner=alice)
    car = ManualAccountFactory(owner=alice, name="Car", category="vehicle", value=Decimal(50))
    share = _share(alice, bob, all_accounts=False, account_ids=[a1.pk], manual_ids=[house.pk])
    later = AccountFactory(item=a1.item)
    assert _visible(bob) == {a1.pk, b1.pk}  # not a2, not one linked later
    assert {m.pk for m in accounts.manual_accounts_for_user(user=bob, household=True)} == {house.pk}
    assert households.visible_manual_account(user=bob, pk=car.pk) is None
    assert _usd(bob) == Decimal(3 + 100 + 1000)
    sharing.share_set_accounts(share=share, all_accounts=False, account_ids=[a2.pk])
    assert _visible(bob) == {a2.pk, b1.pk}
    assert households.visible_manual_account(user=bob, pk=house.pk) is None
    sharing.share_set_accounts(share=share, all_accounts=True)
    assert _visible(bob) == {a1.pk, a2.pk, b1.pk, later.pk}


def test_mutual_shares_count_each_account_once(pair):
    """Alice and Bob share all with each other: each one's household counts every account
    once, their own included (shared out, and seen by their owner)."""
    alice, bob, a1, a2, b1 = pair
    _share(alice, bob)
    _share(bob, alice)
    both = Decimal(100 + 20 + 3)
    assert _usd(alice) == _usd(bob) == both
    rows = accounts.account_balances(user=alice, household=True)
    assert sorted(r.pk for r in rows) == sorted({a1.pk, a2.pk, b1.pk})


def test_a_copy_of_a_shared_account_is_not_counted(pair):
    """A bank the owner linked twice: its copy shows nowhere in the viewer's totals."""
    alice, bob, a1, _a2, _b1 = pair
    copy = AccountFactory(item=PlaidItemFactory(owner=alice), duplicate_of=a1, current=Decimal(100))
    _share(alice, bob)
    assert _usd(bob) == Decimal(100 + 20 + 3)
    assert copy.pk not in {r.pk for r in accounts.account_balances(user=bob, household=True)}


def test_household_history_is_over_exactly_the_visible_accounts(pair):
    alice, bob, a1, a2, b1 = pair
    now = timezone.now()
    for account in (a1, a2, b1):
        BalanceSnapshot.objects.create(
            account=account, taken_at=now - timedelta(days=3), current=account.current
        )
    for owner in (alice, bob):  # the daily totals a refresh keeps
        net_worth.net_worth_rebuild(user_id=owner.pk)
    _share(alice, bob, all_accounts=False, account_ids=[a1.pk])
    board = dashboard_for_user(user=bob, range_key="30d", period_key="1w", household=True)
    usd = next(h for h in board.history if h.currency == "USD")
    assert usd.points[-1].net_worth == Decimal(100 + 3)
    assert next(t for t in board.totals if t.currency == "USD").net_worth == Decimal(103)
    assert board.changes["USD"].before is None  # no balance a week ago
    # Sharing all instead: Alice's daily totals stand for all of hers.
    sharing.share_set_accounts(share=HouseholdShare.objects.get(owner=alice), all_accounts=True)
    board = dashboard_for_user(user=bob, range_key="30d", period_key="1w", household=True)
    usd = next(h for h in board.history if h.currency == "USD")
    assert usd.points[-1].net_worth == Decimal(100 + 20 + 3)
    assert usd.points[-4].net_worth == Decimal(123)  # three days ago, the first day
    assert [p.day for p in usd.points] == sorted({p.day for p in usd.points})
    mine = dashboard_for_user(user=bob, range_key="30d", period_key="1w")
    assert next(t for t in mine.totals if t.currency == "USD").net_worth == Decimal(3)


JOINT = 3  # joint accounts in `make_household`
JOINT_NET_WORTH = 500 + 700 - 900  # as counted: the older connection's figures


def _joint(*, older, newer, n: int, current: Decimal, credit: bool = False) -> list[Account]:
    """A joint account at bank `ins_joint_<n>` linked by `older`, then a day later by
    `newer`, each copy with its own history; the newer copy's figures are a little off
    (read at another time), so a test sees which copy counts. Returns [older, newer]."""
    made = []
    now = timezone.now()
    for owner, created, extra in ((older, now - timedelta(days=300), 0), (newer, now, 5)):
        item = PlaidItemFactory(owner=owner, institution_id=f"ins_joint_{n}")
        PlaidItem.objects.filter(pk=item.pk).update(created_at=created)
        account = AccountFactory(
            item=item,
            name="Joint Card" if credit else "Joint Checking",
            mask=f"9{n:03d}",
            type="credit" if credit else "depository",
            subtype="credit card" if credit else "checking",
            current=current + extra,
        )
        BalanceSnapshot.objects.bulk_create(
            BalanceSnapshot(
                account=account, taken_at=now - timedelta(days=d), current=current + extra + d
            )
            for d in (0, 5, 40, 200)
        )
        made.append(account)
    return made


# --- Query counts: flat with shares ---------------------------------------------------------

# Visible accounts in all (split over three owners: the viewer, an owner sharing all, an
# owner sharing chosen accounts), and connections per owner.
HOUSEHOLD_SIZES = (5, 100, 1000)
RANGES_AND_PERIODS = (("90d", "1m"), ("30d", "3m"))


def make_household(total: int):
    """Return (viewer, expected USD net worth) with `total` visible accounts over three
    owners, plus their accounts entered by hand."""
    parts = [total // 3, total // 3, total - 2 * (total // 3)]
    users = [make_user_with(n, max(1, n // 5)) for n in parts]
    viewer, sharing_all, sharing_chosen = users
    # Joint accounts two of them linked, each under their own login: every pairing of a
    # copy the viewer's or a whole user's daily totals hold, and one the chosen owner
    # shares. Each counts once, under the older connection.
    _joint(older=sharing_all, newer=viewer, n=1, current=Decimal(500))
    _joint(older=viewer, newer=sharing_chosen, n=2, current=Decimal(700))
    _joint(older=sharing_chosen, newer=sharing_all, n=3, current=Decimal(900), credit=True)
    for user in users:
        net_worth.net_worth_rebuild(user_id=user.pk)
    _share(sharing_all, viewer)
    _share(
        sharing_chosen,
        viewer,
        all_accounts=False,
        account_ids=list(
            Account.objects.filter(item__owner=sharing_chosen).values_list("pk", flat=True)
        ),
        manual_ids=list(
            ManualAccount.objects.filter(owner=sharing_chosen).values_list("pk", flat=True)
        ),
    )
    # An unshared account of the chosen owner's: never counted.
    AccountFactory(item=PlaidItemFactory(owner=sharing_chosen), current=Decimal(10**6))
    return viewer, parts, sum(usd_net_worth(n) for n in parts) + JOINT_NET_WORTH


def test_household_dashboard_queries_are_flat_for_5_100_and_1000_accounts_of_three_owners(
    django_assert_max_num_queries,
):
    counts: dict[tuple[str, str], list[int]] = {key: [] for key in RANGES_AND_PERIODS}
    for total in HOUSEHOLD_SIZES:
        viewer, parts, usd = make_household(total)
        for range_key, period_key in RANGES_AND_PERIODS:
            with (
                django_assert_max_num_queries(15),
                CaptureQueriesContext(connection) as queries,
            ):
                board = dashboard_for_user(
                    user=viewer,
                    range_key=range_key,
                    period_key=period_key,
                    accounts_per_group=20,
                    connections_shown=20,
                    household=True,
                )
            counts[(range_key, period_key)].append(len(queries))
            assert sum(g.count for g in board.groups) == total + JOINT + sum(
                map(manual_count, parts)
            )
            assert next(t for t in board.totals if t.currency == "USD").net_worth == usd
            assert board.history and board.changes["USD"].before is not None
            # Connections stay the viewer's own.
            assert len(board.items) == max(1, parts[0] // 5) + 2  # and two joint banks
    for key, per_size in counts.items():
        assert len(set(per_size)) == 1, (key, per_size)


def test_household_dashboard_requests_are_flat_for_5_100_and_1000_accounts(
    client, django_assert_max_num_queries, settings
):
    settings.DASHBOARD_ACCOUNTS_PER_GROUP = 20
    settings.DASHBOARD_CONNECTIONS_SHOWN = 20
    paths = ("/?view=household", "/api/dashboard/?view=household", "/")
    counts: dict[str, list[int]] = {path: [] for path in paths}
    for total in HOUSEHOLD_SIZES:
        viewer, _parts, usd = make_household(total)
        client.force_login(viewer)
        for path in paths:
            with (
                django_assert_max_num_queries(18),
                CaptureQueriesContext(connection) as queries,
            ):
                response = client.get(path)
                page = body(response)  # `/` streams: its figures are read as it is sent
            assert response.status_code == 200
            counts[path].append(len(queries))
            if path == "/?view=household":
                assert f"${usd:,}.00" in page
                assert page.count('data-owner="') > 0
    for path, per_size in counts.items():
        assert len(set(per_size)) == 1, (path, per_size)


def test_no_query_for_shares_in_the_plain_view(django_assert_num_queries, pair):
    """ "Mine" reads no share: its accounts query is the one it always was."""
    alice, bob, *_ = pair
    _share(alice, bob)
    with django_assert_num_queries(1) as captured:
        list(accounts.accounts_for_user(user=bob))
    assert "householdshare" not in captured.captured_queries[0]["sql"].lower()
    assert HouseholdShare.objects.count() == 1


def test_household_chart_and_change_equal_the_snapshots_of_exactly_the_visible_accounts():
    """The household series (daily totals of whole users + snapshots of chosen accounts)
    is the series computed from the snapshots of exactly the visible accounts, every day;
    so is its change, on any day."""
    viewer, _parts, _usd = make_household(30)
    today = timezone.localdate()
    start = today - timedelta(days=250)
    truth = history.net_worth_history(
        accounts=history.history_accounts(user=viewer, household=True), start=start, end=today
    )
    got = history.household_series(user=viewer, start=start, end=today)
    assert {h.currency for h in got} == {h.currency for h in truth} == {"USD", "CAD"}
    for expected in truth:
        series = next(h for h in got if h.currency == expected.currency)
        assert [(p.day, p.assets, p.liabilities) for p in series.points] == [
            (p.day, p.assets, p.liabilities) for p in expected.points
        ], expected.currency
    totals = totals_by_currency(
        [
            *accounts.account_balances(user=viewer, household=True),
            *accounts.manual_balances(user=viewer, household=True),
        ]
    )
    for days_back in (1, 5, 39, 41, 199, 201, 240):
        since = today - timedelta(days=days_back)
        changes = {
            c.currency: c.before
            for c in history.household_change(user=viewer, totals=totals, since=since)
        }
        for expected in truth:
            point = next((p for p in expected.points if p.day == since), None)
            assert changes[expected.currency] == (point and point.net_worth), (days_back,)
