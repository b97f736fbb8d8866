"""`history.snapshots_prune`: old intra-day snapshots are thinned to one per account per day;
old call-log rows go."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from balances import tasks
from balances.models import BalanceSnapshot, PlaidCall
from balances.services import history
from tests.factories import AccountFactory, BalanceSnapshotFactory, PlaidItemFactory

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 6, 30, 12, 0, tzinfo=UTC)


def snap(account, when, current):
    return BalanceSnapshotFactory(account=account, taken_at=when, current=Decimal(current))


@pytest.fixture
def detail(settings):
    """Two accounts, three snapshots a day on two old days, and three recent ones."""
    settings.TIME_ZONE = "UTC"
    a, b = AccountFactory(), AccountFactory()
    old = NOW - timedelta(days=100)
    rows = {}
    for account in (a, b):
        for day in (0, 1):
            base = old.replace(hour=0) + timedelta(days=day)
            for hour, value in ((1, "10"), (9, "20"), (23, "30")):
                rows[(account.pk, day, hour)] = snap(account, base + timedelta(hours=hour), value)
    recent = [snap(a, NOW - timedelta(hours=h), "40") for h in (1, 2, 3)]
    return a, b, rows, recent


def test_prune_keeps_each_days_last_snapshot_and_all_recent_detail(detail, settings):
    a, b, rows, recent = detail
    settings.BALANCE_HISTORY_DETAIL_DAYS = 90
    result = history.snapshots_prune(now=NOW)
    assert result.snapshots_deleted == 2 * 2 * 2  # 2 accounts x 2 days x 2 intra-day points
    kept = set(BalanceSnapshot.objects.values_list("pk", flat=True))
    expected = {rows[(acc.pk, day, 23)].pk for acc in (a, b) for day in (0, 1)}
    assert kept == expected | {s.pk for s in recent}
    # Closing balance of each day is what stays.
    assert set(
        BalanceSnapshot.objects.filter(pk__in=expected).values_list("current", flat=True)
    ) == {Decimal("30")}
    # Idempotent.
    assert history.snapshots_prune(now=NOW).snapshots_deleted == 0


def test_dry_run_deletes_nothing(detail):
    before = BalanceSnapshot.objects.count()
    assert history.snapshots_prune(now=NOW, dry_run=True).snapshots_deleted == 8
    assert BalanceSnapshot.objects.count() == before


def test_prune_removes_old_call_log_rows(settings):
    settings.BALANCE_HISTORY_DETAIL_DAYS = 10
    item = PlaidItemFactory()
    old = PlaidCall.objects.create(item=item, called_at=NOW - timedelta(days=11), endpoint="x")
    new = PlaidCall.objects.create(item=item, called_at=NOW - timedelta(days=9), endpoint="x")
    assert history.snapshots_prune(now=NOW).calls_deleted == 1
    assert list(PlaidCall.objects.values_list("pk", flat=True)) == [new.pk]
    assert not PlaidCall.objects.filter(pk=old.pk).exists()


def test_snapshots_stay_append_only():
    s = BalanceSnapshotFactory()
    with pytest.raises(TypeError):
        BalanceSnapshot.objects.filter(pk=s.pk).update(current=1)


def test_command_and_task(detail, settings):
    settings.BALANCE_HISTORY_DETAIL_DAYS = 90
    # Against the real clock every fixture row is old: 8 old intra-day rows, plus 2 of
    # the 3 "recent" ones (all on one day).
    out = StringIO()
    call_command("prune_balance_history", "--dry-run", stdout=out)
    assert "Would delete 10 snapshot(s)" in out.getvalue()
    call_command("prune_balance_history", "--days", "100000", stdout=out)
    assert "Deleted 0 snapshot(s)" in out.getvalue()
    assert tasks.prune_balance_history() == 10
    assert BalanceSnapshot.objects.count() == 5
    with pytest.raises(CommandError, match="cannot be negative"):
        call_command("prune_balance_history", "--days", "-1")
