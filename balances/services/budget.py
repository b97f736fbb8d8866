"""PLAID_BALANCE_MONTHLY_BUDGET: take a billed call from the month's budget before making it.

Each real-time call (`/accounts/balance/get`, billed) first takes one call from this
month's `BalanceBudgetMonth.reserved` with one conditional UPDATE
(`reserved < budget`). Race: two workers asking for the last call at once both run that
UPDATE, and the database lets only one of them match, so the budget is never overshot by
the schedule, webhooks or dashboard opens, on any database. The counter counts calls
allowed, not calls billed: a call that then fails (not billed) still used its share, so
the month may end a few calls under the budget, never over it. The first call of a month
creates its row, starting from the month's billed calls in the call log (a budget set
mid-month counts what was already spent); two workers creating it at once: the unique
`month` lets one INSERT win, the other reads its row.

Once spent, a refresh uses the free cached endpoint instead, except "Refresh now"
(`on_demand`), which stays real time while its user made fewer than
PLAID_BALANCE_REFRESH_NOW_DAILY_CAP billed calls today. That cap is read from the call
log: refreshes of one user running at once may each see the last free call, so a user
may exceed it by at most the number of their Items refreshed at the same moment (each
Item is refreshed at most once per BALANCE_REFRESH_NOW_INTERVAL on demand). Those calls
are over the budget by design, and counted in `reserved` too.

The month (TIME_ZONE's) starts a new row, so the budget resets with the month.
Clock: `selectors.costs._now`.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F

from balances.models import BalanceBudgetMonth, PlaidItem
from balances.selectors import costs

logger = logging.getLogger(__name__)


def _month_row() -> BalanceBudgetMonth:
    """Return this month's row, creating it from the call log's count if it is new."""
    now = costs._now()
    month = costs.month_start(now).date()
    row = BalanceBudgetMonth.objects.filter(month=month).first()
    if row is not None:
        return row
    try:
        with transaction.atomic():
            return BalanceBudgetMonth.objects.create(
                month=month, reserved=costs.billed_calls_total().month
            )
    except IntegrityError:
        return BalanceBudgetMonth.objects.get(month=month)


def budget_take_call(*, item: PlaidItem, on_demand: bool = False) -> bool:
    """Take one real-time call for `item` from the month's budget; return whether it may
    be made (False: use the cached endpoint).

    Always True without a budget. `on_demand`: the user's "Refresh now", allowed past a
    spent budget within the per-user daily cap. Cost without a budget: nothing; with one:
    one or two UPDATEs (plus one count of the user's calls today once the budget is spent).
    """
    budget = settings.PLAID_BALANCE_MONTHLY_BUDGET
    if budget is None:
        return True
    row = _month_row()
    taken = BalanceBudgetMonth.objects.filter(pk=row.pk, reserved__lt=budget).update(
        reserved=F("reserved") + 1
    )
    if taken:
        return True
    now = costs._now()
    if BalanceBudgetMonth.objects.filter(pk=row.pk, spent_at__isnull=True).update(spent_at=now):
        logger.warning(
            "Plaid balance budget of %s billed calls this month is spent: refreshes use "
            "cached balances until the month ends",
            budget,
        )
    if not on_demand:
        return False
    today = costs.billed_calls_for_user(user_id=item.owner_id).today
    if today >= settings.PLAID_BALANCE_REFRESH_NOW_DAILY_CAP:
        return False
    BalanceBudgetMonth.objects.filter(pk=row.pk).update(reserved=F("reserved") + 1)
    return True


def budget_return_call() -> None:
    """Give back a call taken by `budget_take_call` that was not made (Plaid's rate limit
    made the refresh wait; its retry takes one again)."""
    if settings.PLAID_BALANCE_MONTHLY_BUDGET is None:
        return
    month = costs.month_start(costs._now()).date()
    BalanceBudgetMonth.objects.filter(month=month, reserved__gt=0).update(
        reserved=F("reserved") - 1
    )
