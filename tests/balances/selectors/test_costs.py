"""`selectors.costs`: billed calls (successful /accounts/balance/get only) per Item, per user
and in all, today and this month; the estimated bill; the monthly budget's status."""

from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from balances.models import BalanceBudgetMonth, PlaidCall, PlaidItem
from balances.selectors import costs
from tests.factories import PlaidItemFactory, UserFactory

pytestmark = pytest.mark.django_db

UTC = ZoneInfo("UTC")
NOW = datetime(2026, 11, 30, 15, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def clock(monkeypatch):
    monkeypatch.setattr(costs, "_now", lambda: NOW)


def call(item, at, endpoint="/accounts/balance/get", error_code=""):
    return PlaidCall.objects.create(
        item=item, called_at=at, endpoint=endpoint, error_code=error_code
    )


def test_only_successful_balance_calls_of_this_month_count_today_apart():
    item = PlaidItemFactory()
    call(item, NOW.replace(hour=1))  # today
    call(item, NOW.replace(day=2))  # this month, not today
    call(item, NOW.replace(month=10, day=31, hour=23))  # last month
    call(item, NOW.replace(hour=2), endpoint="/accounts/get")  # free
    call(item, NOW.replace(hour=3), error_code="PRODUCT_NOT_READY")  # failed: not billed
    assert costs.billed_calls_total() == costs.CallCounts(today=1, month=2)
    assert costs.billed_calls_by_item() == {item.pk: costs.CallCounts(today=1, month=2)}


def test_per_item_per_user_and_for_one_user():
    alice, bob = UserFactory(username="alice"), UserFactory(username="bob")
    a1, a2 = PlaidItemFactory(owner=alice), PlaidItemFactory(owner=alice)
    b1 = PlaidItemFactory(owner=bob)
    for item, n in ((a1, 3), (a2, 1), (b1, 2)):
        for _ in range(n):
            call(item, NOW)
    assert costs.billed_calls_by_item(item_ids=[a1.pk, b1.pk]) == {
        a1.pk: costs.CallCounts(3, 3),
        b1.pk: costs.CallCounts(2, 2),
    }
    assert [(u.username, u.counts.month) for u in costs.billed_calls_by_user()] == [
        ("alice", 4),
        ("bob", 2),
    ]
    assert costs.billed_calls_for_user(user_id=bob.pk) == costs.CallCounts(2, 2)
    usage = costs.usage_for_user(user_id=alice.pk)
    assert [r.counts.month for r in usage.items] == [3, 1]
    assert usage.total == costs.CallCounts(4, 4)
    none = costs.usage_for_user(user_id=UserFactory().pk)
    assert (none.items, none.total) == ([], costs.CallCounts())


def test_item_subquery_annotation_matches():
    item, other = PlaidItemFactory(), PlaidItemFactory()
    call(item, NOW)
    call(item, NOW.replace(day=1))
    rows = PlaidItem.objects.annotate(
        m=costs.billed_calls_subquery(), t=costs.billed_calls_subquery(today=True)
    ).order_by("pk")
    assert [(r.m, r.t) for r in rows] == [(2, 1), (0, 0)]
    assert other.pk == rows[1].pk


def test_estimated_bill_only_with_a_price(settings):
    counts = costs.CallCounts(today=2, month=30)
    settings.PLAID_BALANCE_PRICE = None
    assert (counts.cost_today(), counts.cost_month()) == (None, None)
    settings.PLAID_BALANCE_PRICE = Decimal("0.10")
    assert (counts.cost_today(), counts.cost_month()) == (Decimal("0.20"), Decimal("3.00"))


def test_days_and_months_are_those_of_time_zone(settings):
    settings.TIME_ZONE = "America/New_York"
    with timezone.override("America/New_York"):
        # 03:00 UTC on Dec 1 is still Nov 30 in New York.
        at = datetime(2026, 12, 1, 3, 0, tzinfo=UTC)
        assert costs.month_start(at).isoformat() == "2026-11-01T00:00:00-04:00"
        assert costs.day_start(at).isoformat() == "2026-11-30T00:00:00-05:00"
        assert costs.next_month_start(at).isoformat() == "2026-12-01T00:00:00-05:00"


def test_budget_status(settings):
    item = PlaidItemFactory()
    settings.PLAID_BALANCE_MONTHLY_BUDGET = None
    call(item, NOW)
    status = costs.budget_status()
    assert (status.budget, status.used, status.spent, status.remaining) == (None, 1, False, None)
    settings.PLAID_BALANCE_MONTHLY_BUDGET = 3
    status = costs.budget_status()
    assert (status.spent, status.remaining) == (False, 2)
    assert status.resets_at.isoformat() == "2026-12-01T00:00:00+00:00"
    call(item, NOW)
    call(item, NOW)
    assert costs.budget_status().spent  # the call log reached it
    settings.PLAID_BALANCE_MONTHLY_BUDGET = 10
    assert not costs.budget_status().spent
    # The reservation counter refused a call (calls in flight, or failed ones, counted).
    BalanceBudgetMonth.objects.create(month=NOW.date().replace(day=1), reserved=10, spent_at=NOW)
    status = costs.budget_status()
    assert (status.spent, status.spent_at) == (True, NOW)


def test_budget_resets_with_the_month(settings, monkeypatch):
    settings.PLAID_BALANCE_MONTHLY_BUDGET = 1
    call(PlaidItemFactory(), NOW)
    BalanceBudgetMonth.objects.create(month=NOW.date().replace(day=1), reserved=1, spent_at=NOW)
    assert costs.budget_status().spent
    monkeypatch.setattr(costs, "_now", lambda: datetime(2026, 12, 1, 0, 1, tzinfo=UTC))
    status = costs.budget_status()
    assert (status.spent, status.used, status.spent_at) == (False, 0, None)
