"""Shape figures for the wire: JSON for `/api/dashboard/` and the chart, rows for CSV.

Amounts become exact decimal strings (never floats); a missing balance stays None (JSON
null, never 0). Never a token or a Plaid id.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from django.urls import reverse
from django.utils import timezone

from balances.domain import balance_age
from balances.domain.amounts import decimal_text, utilization
from balances.domain.totals import AccountPoint, CurrencyHistory
from balances.models import Account, ManualAccount, ManualValue
from balances.plaid.errors import help_for_error
from balances.selectors.accounts import ManualBalance
from balances.selectors.dashboard import Dashboard
from balances.selectors.exports import SnapshotRow

# Where an account comes from: a bank linked through Plaid, or entered by hand.
SOURCE_PLAID, SOURCE_MANUAL = "plaid", "manual"


def utilization_percent(account: Account) -> Decimal | None:
    """Return current ÷ limit in percent, one decimal (None without both)."""
    return utilization(account.current, account.limit)


def available_credit(account: Account) -> Decimal | None:
    """Return limit - current for credit accounts (None without both)."""
    if account.type != Account.Type.CREDIT or account.current is None or account.limit is None:
        return None
    return account.limit - account.current


def balances_as_of(account: Account) -> datetime | None:
    """Return when the bank last updated `account`'s balances if older than the refresh
    that stored them, else None (`balance_age.balance_as_of`). Reads `account.item`."""
    return balance_age.balance_as_of(account.balances_updated_at, account.item.last_refreshed_at)


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def account_json(account: Account) -> dict[str, Any]:
    official = account.currency_is_official
    return {
        "id": account.pk,
        "url": reverse("account_detail", args=[account.pk]),
        "institution": account.item.display_name,
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
        # When the bank last updated these balances, if older than their refresh (Capital
        # One's cards): the "as of …" the dashboard shows; null when as fresh as the refresh.
        "balances_as_of": _iso(balances_as_of(account)),
        "source": SOURCE_PLAID,
        # The owner's username (the dashboard's rows carry it): someone else's in the
        # household view when the account is shared with the user.
        "owner": getattr(account, "owner_name", None) or None,
    }


def manual_account_json(account: ManualAccount | ManualBalance) -> dict[str, Any]:
    """An account entered by hand: its latest value and the day it is of."""
    official = account.currency_is_official
    return {
        "id": account.api_id,
        "name": account.name,
        "kind": account.kind,
        "category": account.category,
        "type": account.type,
        "currency": account.currency,
        "currency_is_official": official,
        "value": decimal_text(account.value, official=official),
        "value_as_of": account.value_as_of.isoformat(),
        "note": account.note,
        "source": SOURCE_MANUAL,
        "owner": getattr(account, "owner_name", None) or None,
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
                "manual_accounts": [manual_account_json(m) for m in g.manual],
            }
            for g in board.groups
        ],
        "items": [
            {
                "id": f.item.pk,
                "institution": f.item.display_name,
                "status": f.item.status,
                "error_code": f.item.error_code or None,
                "action": help_for_error(f.item.error_code) if f.item.error_code else None,
                "warning_code": f.item.warning_code or None,
                "expires_at": _iso(f.item.expires_at),
                "last_refreshed_at": _iso(f.item.last_refreshed_at),
                "stale": f.is_stale,
                "pending": f.item.is_refresh_pending,
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


def account_chart_json(account: Account, points: list[AccountPoint]) -> list[dict[str, Any]]:
    """Return an account's daily balances as one series for static/js/dashboard.js."""
    return [
        {
            "currency": account.currency,
            "official": account.currency_is_official,
            "labels": [p.day.isoformat() for p in points],
            "current": [decimal_text(p.current, official=False) for p in points],
            "available": [decimal_text(p.available, official=False) for p in points],
            "limit": [decimal_text(p.limit, official=False) for p in points],
        }
    ]


# --- CSV --------------------------------------------------------------------------------

# Spreadsheets run cells starting with these as formulas: prefix text cells with "'".
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def csv_moment(moment: datetime | None) -> str:
    """Return an ISO 8601 cell for `moment` in the user's time zone, its offset included
    (so a program reads the same instant and a person reads their own clock)."""
    return timezone.localtime(moment).isoformat() if moment else ""


def csv_text(value: str) -> str:
    """Return a text cell that no spreadsheet runs as a formula."""
    return f"'{value}" if value.startswith(FORMULA_PREFIXES) else value


def mask_label(mask: str) -> str:
    """Return the account's mask as a spreadsheet keeps it: "ending 0042", text.

    `mask` stays exact ("0042") for programs reading the CSV; a spreadsheet opening the file
    reads that column as the number 42. Prefixing `mask` itself (="0042", '0042) would
    hand every CSV reader a wrong value, so the text for people is a column of its own.
    """
    return f"ending {mask}" if mask else ""


ACCOUNT_COLUMNS = [
    "institution",
    "account",
    "official_name",
    "mask",
    "mask_label",
    "type",
    "subtype",
    "currency",
    "currency_is_official",
    "available",
    "current",
    "limit",
    "available_credit",
    "utilization_percent",
    "balances_updated_at",
    "balances_as_of",
    "closed_at",
    "source",
]


def account_csv_row(a: Account) -> list[str]:
    """Return one row of ACCOUNT_COLUMNS."""
    official = a.currency_is_official
    return [
        csv_text(a.item.display_name),
        csv_text(a.name),
        csv_text(a.official_name),
        csv_text(a.mask),
        csv_text(mask_label(a.mask)),
        a.type,
        csv_text(a.subtype),
        a.currency,
        "yes" if official else "no",
        decimal_text(a.available, official=official) or "",
        decimal_text(a.current, official=official) or "",
        decimal_text(a.limit, official=official) or "",
        decimal_text(available_credit(a), official=official) or "",
        decimal_text(utilization_percent(a), official=False) or "",
        csv_moment(a.balances_updated_at),
        csv_moment(balances_as_of(a)),
        csv_moment(a.closed_at),
        SOURCE_PLAID,
    ]


def manual_account_csv_row(m: ManualAccount) -> list[str]:
    """Return one row of ACCOUNT_COLUMNS for an account entered by hand: its category as
    the subtype, its value as `current`, the day of that value as `balances_updated_at`."""
    official = m.currency_is_official
    return [
        "",
        csv_text(m.name),
        "",
        "",
        "",
        m.type,
        m.category,
        m.currency,
        "yes" if official else "no",
        "",
        decimal_text(m.value, official=official) or "",
        "",
        "",
        "",
        m.value_as_of.isoformat(),
        "",  # balances_as_of: a value entered by hand is as of its day
        "",
        SOURCE_MANUAL,
    ]


HISTORY_COLUMNS = [
    "taken_at",
    "institution",
    "account",
    "mask",
    "mask_label",
    "type",
    "currency",
    "available",
    "current",
    "limit",
    "source",
]


def snapshot_csv_row(row: SnapshotRow) -> list[str]:
    """Return one row of HISTORY_COLUMNS."""
    taken_at, bank, name, mask, type_, iso, unofficial, avail, cur, limit = row
    official = bool(iso)
    return [
        csv_moment(taken_at),
        csv_text(bank),
        csv_text(name),
        csv_text(mask),
        csv_text(mask_label(mask)),
        type_,
        iso or unofficial,
        decimal_text(avail, official=official) or "",
        decimal_text(cur, official=official) or "",
        decimal_text(limit, official=official) or "",
        SOURCE_PLAID,
    ]


def manual_value_csv_row(value: ManualValue) -> list[str]:
    """Return one row of HISTORY_COLUMNS for a value entered by hand (`taken_at`: its day)."""
    m = value.account
    official = m.currency_is_official
    return [
        value.as_of.isoformat(),
        "",
        csv_text(m.name),
        "",
        "",
        m.type,
        m.currency,
        "",
        decimal_text(value.value, official=official) or "",
        "",
        SOURCE_MANUAL,
    ]
