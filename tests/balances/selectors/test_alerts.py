"""`balances.selectors.alerts.evaluation_reads`: what an evaluation reads, in one round trip
on PostgreSQL; what only some rule needs is read only when such a rule exists."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from balances.models import AlertRule, AlertSettings, AlertState, BalanceSnapshot
from balances.selectors.alerts import evaluation_reads
from balances.services.alerts import rules
from tests.factories import AccountFactory, NetWorthDayFactory, PlaidItemFactory, UserFactory

pytestmark = pytest.mark.django_db
Kind, Scope = AlertRule.Kind, AlertRule.Scope


@pytest.fixture
def owner():
    user = UserFactory()
    item = PlaidItemFactory(owner=user, institution_name="Alder Bank")
    checking = AccountFactory(item=item, available=Decimal(80), current=Decimal(90))
    AccountFactory(item=item, closed_at=timezone.now())  # closed: never read
    copy = AccountFactory(item=PlaidItemFactory(owner=user), duplicate_of=checking)
    BalanceSnapshot.objects.create(
        account=checking,
        taken_at=timezone.now() - timedelta(days=2),
        available=Decimal(150),
        current=Decimal(160),
    )
    BalanceSnapshot.objects.create(account=copy, taken_at=timezone.now(), current=Decimal(1))
    UserFactory()  # another user's nothing
    return user, item, checking


def _read(user):
    with CaptureQueriesContext(connection) as queries:
        read = evaluation_reads(user_id=user.pk, day=timezone.localdate())
    # One round trip on PostgreSQL; SQLite runs the four statements one by one.
    assert len(queries) == (1 if connection.vendor == "postgresql" else 4)
    return read


def test_without_rules_only_connections_are_read(owner):
    user, item, _checking = owner
    read = _read(user)
    assert [i.pk for i in read.items] == sorted(
        i.pk for i in user.plaid_items.all()
    ) and item.pk in {i.pk for i in read.items}
    assert read.choices.login_required  # defaults: all on
    assert read.rules == [] and read.holding == set()
    assert read.accounts == [] and read.net_worth == {}


def test_a_balance_rule_reads_counted_accounts_without_the_day_before(owner):
    user, _item, checking = owner
    rules.alert_rule_create(
        user=user, kind=Kind.BALANCE_BELOW, scope=Scope.ALL, threshold=Decimal(5), currency="USD"
    )
    AlertSettings.objects.create(user=user, login_required=False)
    AlertState.objects.create(
        owner=user, key="item:1:login", holding=True, changed_at=timezone.now()
    )
    AlertState.objects.create(
        owner=user, key="item:1:stale", holding=False, changed_at=timezone.now()
    )
    read = _read(user)
    assert not read.choices.login_required and read.choices.revoked
    assert [r.kind for r in read.rules] == [Kind.BALANCE_BELOW]
    assert read.holding == {"item:1:login"}
    (account,) = read.accounts  # not the closed one, not the copy
    assert (account.pk, account.available, account.current) == (
        checking.pk,
        Decimal(80),
        Decimal(90),
    )
    assert account.day_before_available is None and account.day_before_current is None
    assert read.net_worth == {}


def test_a_drop_rule_reads_the_balances_at_the_end_of_the_day_before(owner):
    user, _item, checking = owner
    rules.alert_rule_create(
        user=user,
        kind=Kind.DROP_PERCENT,
        scope=Scope.ACCOUNT,
        account_id=checking.pk,
        threshold=Decimal(10),
    )
    (account,) = _read(user).accounts
    assert (account.day_before_available, account.day_before_current) == (
        Decimal(150),
        Decimal(160),
    )


def test_a_net_worth_rule_alone_reads_daily_totals_and_no_account(owner):
    user, _item, _checking = owner
    rules.alert_rule_create(
        user=user, kind=Kind.NET_WORTH_CHANGE, scope=Scope.ALL, threshold=Decimal(1)
    )
    today = timezone.localdate()
    for day, assets, liabilities in (
        (today - timedelta(days=3), 1000, 100),
        (today - timedelta(days=1), 1200, 200),
        (today, 1500, 200),
    ):
        NetWorthDayFactory(
            user=user, day=day, assets=Decimal(assets), liabilities=Decimal(liabilities)
        )
    # A currency that did not change today.
    NetWorthDayFactory(user=user, currency="CAD", day=today - timedelta(days=1), assets=5)
    read = _read(user)
    assert read.accounts == []
    assert read.net_worth == {"USD": (Decimal(1000), Decimal(1300))}


def test_unread_count_counts_the_users_unread_alerts_but_test_ones():
    from datetime import UTC, datetime

    from balances.models import Alert, AlertMessage
    from balances.selectors.alerts import unread_count

    owner, other = UserFactory(), UserFactory()
    when = datetime(2026, 5, 1, tzinfo=UTC)

    def alert(user, *, read=False, test=False):
        message = AlertMessage.objects.create(
            owner=user, created_at=when, is_open=False, is_test=test
        )
        Alert.objects.create(
            owner=user,
            message=message,
            key=f"k{Alert.objects.count()}",
            title="t",
            created_at=when,
            read_at=when if read else None,
        )

    assert unread_count(user=owner) == 0
    alert(owner)
    alert(owner)
    alert(owner, read=True)
    alert(owner, test=True)
    alert(other)
    assert unread_count(user=owner) == 2
    assert unread_count(user=other) == 1
