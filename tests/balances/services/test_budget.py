"""`services.budget`: a real-time call is taken from the month's budget before it is made,
atomically; past it only "Refresh now" stays real time, within the per-user daily cap."""

import threading
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from django.db import connection

from balances.models import BalanceBudgetMonth, PlaidCall
from balances.selectors import costs
from balances.services import budget
from tests.factories import PlaidItemFactory

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 30, 15, 0, tzinfo=ZoneInfo("UTC"))


@pytest.fixture(autouse=True)
def clock(monkeypatch):
    monkeypatch.setattr(costs, "_now", lambda: NOW)


def billed(item, n=1):
    for _ in range(n):
        PlaidCall.objects.create(item=item, called_at=NOW, endpoint="/accounts/balance/get")


def test_no_budget_always_real_time_and_writes_nothing(settings):
    settings.PLAID_BALANCE_MONTHLY_BUDGET = None
    assert budget.budget_take_call(item=PlaidItemFactory())
    budget.budget_return_call()
    assert not BalanceBudgetMonth.objects.exists()


def test_takes_calls_up_to_the_budget_then_refuses_and_records_when(settings):
    settings.PLAID_BALANCE_MONTHLY_BUDGET = 3
    item = PlaidItemFactory()
    billed(item)  # spent before the row existed: counted from the call log
    assert [budget.budget_take_call(item=item) for _ in range(3)] == [True, True, False]
    row = BalanceBudgetMonth.objects.get()
    assert (row.month.isoformat(), row.reserved, row.spent_at) == ("2026-11-01", 3, NOW)
    assert costs.budget_status().spent


def test_a_call_not_made_is_given_back(settings):
    settings.PLAID_BALANCE_MONTHLY_BUDGET = 1
    item = PlaidItemFactory()
    assert budget.budget_take_call(item=item)
    budget.budget_return_call()
    assert budget.budget_take_call(item=item)
    assert not budget.budget_take_call(item=item)


def test_refresh_now_past_the_budget_within_the_users_daily_cap(settings):
    settings.PLAID_BALANCE_MONTHLY_BUDGET = 0
    settings.PLAID_BALANCE_REFRESH_NOW_DAILY_CAP = 2
    item = PlaidItemFactory()
    other_user_item = PlaidItemFactory()
    assert not budget.budget_take_call(item=item)  # scheduled, webhook, dashboard open
    assert budget.budget_take_call(item=item, on_demand=True)
    billed(item)
    assert budget.budget_take_call(item=item, on_demand=True)
    billed(item)
    assert not budget.budget_take_call(item=item, on_demand=True)  # cap reached today
    assert budget.budget_take_call(item=other_user_item, on_demand=True)  # per user
    # Calls over the budget are counted too.
    assert BalanceBudgetMonth.objects.get().reserved == 3


def test_a_new_month_resets_the_budget(settings, monkeypatch):
    settings.PLAID_BALANCE_MONTHLY_BUDGET = 1
    item = PlaidItemFactory()
    assert budget.budget_take_call(item=item)
    assert not budget.budget_take_call(item=item)
    monkeypatch.setattr(costs, "_now", lambda: datetime(2026, 12, 1, tzinfo=ZoneInfo("UTC")))
    assert budget.budget_take_call(item=item)
    assert BalanceBudgetMonth.objects.count() == 2


@pytest.mark.django_db(transaction=True)
def test_threads_racing_for_the_last_calls_never_overshoot(settings):
    if connection.vendor != "postgresql":
        pytest.skip("concurrent writers: PostgreSQL (SQLite serialises every write)")
    settings.PLAID_BALANCE_MONTHLY_BUDGET = 5
    item = PlaidItemFactory()
    budget.budget_take_call(item=item)  # the month's row exists: the race is the UPDATE
    results: list[bool] = []
    barrier = threading.Barrier(12)

    def take():
        try:
            barrier.wait()
            results.append(budget.budget_take_call(item=item))
        finally:
            connection.close()

    threads = [threading.Thread(target=take) for _ in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results.count(True) == 4
    assert BalanceBudgetMonth.objects.get().reserved == 5
