"""What Plaid bills: billed calls per Item, per user and in all, today and this month.

Plaid bills each successful `/accounts/balance/get` call in production; `/accounts/get`
(Plaid's cached balances) has no per-call fee, and a call that failed is not billed. The
counts come from the call log (`PlaidCall`), so they are what this deployment asked Plaid
for, not Plaid's invoice. Days and months are those of TIME_ZONE; `_now()` is the clock.

Cost: one aggregate query per function (an index on `called_at` bounds it to the month).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db.models import Count, IntegerField, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone

from balances.models import BalanceBudgetMonth, PlaidCall, PlaidItem

BILLED_ENDPOINT = "/accounts/balance/get"


def _now() -> datetime:
    """The clock (a seam for tests and the simulated-month benchmark)."""
    return timezone.now()


def day_start(at: datetime) -> datetime:
    """Return the start of `at`'s day in TIME_ZONE."""
    local = timezone.localtime(at)
    return local.replace(hour=0, minute=0, second=0, microsecond=0)


def month_start(at: datetime) -> datetime:
    """Return the start of `at`'s month in TIME_ZONE."""
    return day_start(at).replace(day=1)


def next_month_start(at: datetime) -> datetime:
    """Return the start of the month after `at`'s, in TIME_ZONE."""
    start = month_start(at)
    following = (start + timedelta(days=32)).replace(day=1)
    # Through timezone.make_aware so a DST change between the two starts is honoured.
    return timezone.make_aware(following.replace(tzinfo=None), timezone.get_current_timezone())


def price() -> Decimal | None:
    """PLAID_BALANCE_PRICE: what one billed call costs, or None when not set."""
    value = settings.PLAID_BALANCE_PRICE
    return value if value is None else Decimal(value)


@dataclass(frozen=True, slots=True)
class CallCounts:
    """Billed calls today and this month (month-to-date), and what they cost when the
    price per call is known."""

    today: int = 0
    month: int = 0

    def cost_today(self) -> Decimal | None:
        p = price()
        return None if p is None else p * self.today

    def cost_month(self) -> Decimal | None:
        p = price()
        return None if p is None else p * self.month


def _billed_this_month(now: datetime) -> QuerySet[PlaidCall]:
    return PlaidCall.objects.filter(
        endpoint=BILLED_ENDPOINT, error_code="", called_at__gte=month_start(now)
    )


def _today(now: datetime) -> Count:
    return Count("pk", filter=Q(called_at__gte=day_start(now)))


def billed_calls_total() -> CallCounts:
    """Return the deployment's billed calls today and this month."""
    now = _now()
    row = _billed_this_month(now).aggregate(month=Count("pk"), today=_today(now))
    return CallCounts(today=row["today"], month=row["month"])


def billed_calls_by_item(*, item_ids: Iterable[int] | None = None) -> dict[int, CallCounts]:
    """Return billed calls per Item (of `item_ids`, or every Item that made one).

    Items without a billed call this month are absent: read with `.get(pk, CallCounts())`.
    """
    now = _now()
    calls = _billed_this_month(now)
    if item_ids is not None:
        calls = calls.filter(item_id__in=list(item_ids))
    rows = calls.values("item_id").annotate(month=Count("pk"), today=_today(now)).order_by()
    return {r["item_id"]: CallCounts(today=r["today"], month=r["month"]) for r in rows}


@dataclass(frozen=True, slots=True)
class UserCalls:
    user_id: int
    username: str
    counts: CallCounts


def billed_calls_by_user() -> list[UserCalls]:
    """Return billed calls per user who made one this month, the most first."""
    now = _now()
    rows = (
        _billed_this_month(now)
        .values("item__owner_id", "item__owner__username")
        .annotate(month=Count("pk"), today=_today(now))
        .order_by("-month", "item__owner__username")
    )
    return [
        UserCalls(
            r["item__owner_id"],
            r["item__owner__username"],
            CallCounts(today=r["today"], month=r["month"]),
        )
        for r in rows
    ]


def billed_calls_for_user(*, user_id: int) -> CallCounts:
    """Return one user's billed calls (all their Items) today and this month."""
    now = _now()
    row = (
        _billed_this_month(now)
        .filter(item__owner_id=user_id)
        .aggregate(month=Count("pk"), today=_today(now))
    )
    return CallCounts(today=row["today"], month=row["month"])


@dataclass(frozen=True, slots=True)
class BudgetStatus:
    """PLAID_BALANCE_MONTHLY_BUDGET against this month's billed calls."""

    budget: int | None  # None: no cap
    used: int  # billed calls this month (the call log)
    spent: bool
    # When this month's budget ran out (the first real-time call it refused), if it did.
    spent_at: datetime | None
    resets_at: datetime
    refresh_now_daily_cap: int

    @property
    def remaining(self) -> int | None:
        return None if self.budget is None else max(0, self.budget - self.used)


def budget_status() -> BudgetStatus:
    """Return this month's budget, its use, and whether (and since when) it is spent.

    Spent when the month's billed calls reach the budget, or when the budget's reservation
    counter (`BalanceBudgetMonth`, see `services/budget.py`) refused a call: it also
    counts calls in flight and calls that failed.
    """
    now = _now()
    budget = settings.PLAID_BALANCE_MONTHLY_BUDGET
    used = _billed_this_month(now).count()
    spent_at = None
    if budget is not None:
        row = BalanceBudgetMonth.objects.filter(month=month_start(now).date()).first()
        spent_at = row.spent_at if row is not None else None
    return BudgetStatus(
        budget=budget,
        used=used,
        spent=budget is not None and (used >= budget or spent_at is not None),
        spent_at=spent_at,
        resets_at=next_month_start(now),
        refresh_now_daily_cap=settings.PLAID_BALANCE_REFRESH_NOW_DAILY_CAP,
    )


@dataclass(frozen=True, slots=True)
class ItemUsage:
    item: PlaidItem
    counts: CallCounts


@dataclass(frozen=True, slots=True)
class UserUsage:
    """One user's billed calls: each of their connections, and their total."""

    items: list[ItemUsage]
    total: CallCounts
    price: Decimal | None


def usage_for_user(*, user_id: int) -> UserUsage:
    """Return billed calls today and this month of each of the user's connections (every
    one, with none too) and their total. Cost: two queries."""
    items = list(PlaidItem.objects.filter(owner_id=user_id).order_by("institution_name", "pk"))
    by_item = billed_calls_by_item(item_ids=[i.pk for i in items])
    rows = [ItemUsage(i, by_item.get(i.pk, CallCounts())) for i in items]
    total = CallCounts(
        today=sum(r.counts.today for r in rows), month=sum(r.counts.month for r in rows)
    )
    return UserUsage(rows, total, price())


def billed_calls_subquery(*, today: bool = False) -> Coalesce:
    """An annotation of an Item queryset: its billed calls this month (or today). One
    correlated subquery per annotation, on the call log's (item, called_at) index."""
    now = _now()
    since = day_start(now) if today else month_start(now)
    calls = (
        PlaidCall.objects.filter(
            item=OuterRef("pk"), endpoint=BILLED_ENDPOINT, error_code="", called_at__gte=since
        )
        .order_by()
        .values("item")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return Coalesce(Subquery(calls, output_field=IntegerField()), 0)
