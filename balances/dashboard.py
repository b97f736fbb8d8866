"""The dashboard's figures, assembled once for the HTML page, the JSON endpoint and exports.

A read-only composition of selectors. Cost: at most 7 queries whatever the number of
accounts, Items or snapshots (profile, balances, accounts shown, Items, history base,
history days, and the change's base when the period reaches before the chart's range).
Rows read: the user's open accounts as plain values, their Items, and days x currencies of
daily totals; model instances and rendering only for what the page shows.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.contrib.auth.models import User
from django.urls import reverse
from django.utils import timezone

from . import selectors
from .item_errors import help_for_error
from .models import Account
from .selectors import (
    AccountGroup,
    CurrencyChange,
    CurrencyHistory,
    CurrencyTotals,
    ItemFreshness,
)


@dataclass(frozen=True)
class Dashboard:
    main_currency: str
    range_key: str
    period_key: str
    today: date
    totals: list[CurrencyTotals]
    changes: dict[str, CurrencyChange]
    groups: list[AccountGroup]
    items: list[ItemFreshness]  # every connection
    connections: list[ItemFreshness]  # the ones the page lists
    history: list[CurrencyHistory]
    pending: bool

    @property
    def connections_hidden(self) -> int:
        return len(self.items) - len(self.connections)

    @property
    def range_label(self) -> str:
        return selectors.RANGES[self.range_key][0]

    @property
    def period_label(self) -> str:
        return selectors.PERIODS[self.period_key][0]

    @property
    def since(self) -> date:
        return selectors.period_start(self.period_key, today=self.today)

    @property
    def headline(self) -> list[tuple[CurrencyTotals, CurrencyChange | None]]:
        """Return each currency's totals with its change, main currency first."""
        return [(t, self.changes.get(t.currency)) for t in self.totals]


def clean_range(value: str | None) -> str:
    """Return a known chart range key (unknown or missing values get the default)."""
    return value if value in selectors.RANGES else selectors.DEFAULT_RANGE


def clean_period(value: str | None) -> str:
    """Return a known change period key (unknown or missing values get the default)."""
    return value if value in selectors.PERIODS else selectors.DEFAULT_PERIOD


def dashboard_for_user(
    *,
    user: User,
    range_key: str,
    period_key: str,
    accounts_per_group: int | None = None,
    connections_shown: int | None = None,
) -> Dashboard:
    """Return everything the dashboard shows for `user`, in a fixed number of queries.

    `accounts_per_group` keeps the largest accounts of each group (all when None);
    `connections_shown` keeps every connection needing attention and fills up to that many
    with the rest (all when None). With both set, what the page renders stays bounded
    however many accounts the user has; totals and subtotals always count every account.
    """
    today = timezone.localdate()
    main_currency = selectors.main_currency_for(user=user)
    balances = selectors.account_balances(user=user)
    totals = selectors.totals_by_currency(balances, main_currency=main_currency)
    groups = selectors.group_balances(balances, main_currency=main_currency)
    shown = selectors.accounts_for_user(user=user)
    if accounts_per_group is not None:
        largest = selectors.largest_per_group(balances, limit=accounts_per_group)
        shown = shown.filter(pk__in=[pk for pks in largest.values() for pk in pks])
    selectors.attach_accounts(groups, shown)
    items = selectors.items_freshness(list(selectors.items_for_user(user=user)))
    start = selectors.range_start(range_key, today=today)
    history = selectors.net_worth_series(
        user=user, start=start, end=today, main_currency=main_currency
    )
    since = selectors.period_start(period_key, today=today)
    # The chart's days usually include `since`: read the change off them, saving a query.
    changes = selectors.net_worth_change_from_history(
        histories=history, totals=totals, since=since, start=start
    )
    if changes is None:
        changes = selectors.net_worth_change(user=user, totals=totals, since=since)
    return Dashboard(
        main_currency=main_currency,
        range_key=range_key,
        period_key=period_key,
        today=today,
        totals=totals,
        changes={c.currency: c for c in changes},
        groups=groups,
        items=items,
        connections=_connections(items, connections_shown),
        history=history,
        pending=any(selectors.item_is_pending(f.item) for f in items),
    )


def _connections(items: list[ItemFreshness], limit: int | None) -> list[ItemFreshness]:
    """Return the connections to show: all needing attention, then others up to `limit`."""
    if limit is None:
        return items
    room = limit - sum(1 for f in items if f.needs_attention)
    shown = []
    for entry in items:
        if entry.needs_attention:
            shown.append(entry)
        elif room > 0:
            shown.append(entry)
            room -= 1
    return shown


# --- Serialisation (JSON endpoint, CSV, chart data) ----------------------------------------


def decimal_text(amount: Decimal | None, *, official: bool = True) -> str | None:
    """Return `amount` as exact plain text ("110.00", "23631.9805", "0.51234567"); None stays.

    Official currencies keep at least two decimals; nothing is rounded away.
    """
    if amount is None:
        return None
    text = amount.normalize()
    if official and text.as_tuple().exponent > -2:  # type: ignore[operator]
        text = amount.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    return f"{text:f}"


def utilization_percent(account: Account) -> Decimal | None:
    """Return current ÷ limit in percent, one decimal (None without both)."""
    if account.current is None or not account.limit:
        return None
    return (account.current / account.limit * 100).quantize(Decimal("0.1"), ROUND_HALF_UP)


def available_credit(account: Account) -> Decimal | None:
    """Return limit - current for credit accounts (None without both)."""
    if account.type != Account.Type.CREDIT or account.current is None or account.limit is None:
        return None
    return account.limit - account.current


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def account_json(account: Account) -> dict[str, Any]:
    official = account.currency_is_official
    return {
        "id": account.pk,
        "url": reverse("account_detail", args=[account.pk]),
        "institution": account.item.institution_name or account.item.institution_id,
        "name": account.name,
        "official_name": account.official_name,
        "mask": account.mask,
        "type": account.type,
        "subtype": account.subtype,
        "currency": account.currency,
        "currency_is_official": official,
        "available": decimal_text(account.available, official=official),
        "current": decimal_text(account.current, official=official),
        "limit": decimal_text(account.limit, official=official),
        "available_credit": decimal_text(available_credit(account), official=official),
        "utilization_percent": decimal_text(utilization_percent(account), official=False),
        "balances_updated_at": _iso(account.balances_updated_at),
    }


def history_json(history: list[CurrencyHistory]) -> list[dict[str, Any]]:
    return [
        {
            "currency": h.currency,
            "currency_is_official": h.currency_is_official,
            "points": [
                {
                    "date": p.day.isoformat(),
                    "assets": decimal_text(p.assets, official=h.currency_is_official),
                    "liabilities": decimal_text(p.liabilities, official=h.currency_is_official),
                    "net_worth": decimal_text(p.net_worth, official=h.currency_is_official),
                }
                for p in h.points
            ],
        }
        for h in history
    ]


def dashboard_json(board: Dashboard) -> dict[str, Any]:
    """Return the dashboard's figures as JSON-ready data. Never tokens or Plaid ids."""
    totals = []
    for t in board.totals:
        change = board.changes.get(t.currency)
        official = t.currency_is_official
        totals.append(
            {
                "currency": t.currency,
                "currency_is_official": official,
                "assets": decimal_text(t.assets, official=official),
                "liabilities": decimal_text(t.liabilities, official=official),
                "net_worth": decimal_text(t.net_worth, official=official),
                "change": None
                if change is None
                else {
                    "period": board.period_key,
                    "since": change.since.isoformat(),
                    "net_worth_then": decimal_text(change.before, official=official),
                    "amount": decimal_text(change.amount, official=official),
                    "percent": decimal_text(change.percent, official=False),
                },
            }
        )
    return {
        "generated_at": timezone.now().isoformat(),
        "main_currency": board.main_currency,
        "range": board.range_key,
        "period": board.period_key,
        "pending": board.pending,
        "totals": totals,
        "groups": [
            {
                "key": g.key,
                "label": g.label,
                "is_liability": g.is_liability,
                "subtotals": [
                    {
                        "currency": s.currency,
                        "currency_is_official": s.currency_is_official,
                        "amount": decimal_text(s.amount, official=s.currency_is_official),
                    }
                    for s in g.subtotals
                ],
                "accounts": [account_json(a) for a in g.accounts],
            }
            for g in board.groups
        ],
        "items": [
            {
                "id": f.item.pk,
                "institution": f.item.institution_name or f.item.institution_id,
                "status": f.item.status,
                "error_code": f.item.error_code or None,
                "action": help_for_error(f.item.error_code) if f.item.error_code else None,
                "warning_code": f.item.warning_code or None,
                "expires_at": _iso(f.item.expires_at),
                "last_refreshed_at": _iso(f.item.last_refreshed_at),
                "stale": f.is_stale,
                "pending": selectors.item_is_pending(f.item),
            }
            for f in board.items
        ],
        "history": history_json(board.history),
    }


def chart_json(history: list[CurrencyHistory]) -> list[dict[str, Any]]:
    """Return compact series for static/js/dashboard.js (numbers as strings, exact)."""
    return [
        {
            "currency": h.currency,
            "official": h.currency_is_official,
            "labels": [p.day.isoformat() for p in h.points],
            "net_worth": [decimal_text(p.net_worth, official=False) for p in h.points],
            "assets": [decimal_text(p.assets, official=False) for p in h.points],
            "liabilities": [decimal_text(p.liabilities, official=False) for p in h.points],
        }
        for h in history
    ]
