"""The API's JSON shapes: functions that build them (fast: plain dicts, no serializer
machinery per row) and the serializers that document them in the OpenAPI schema.

Amounts are exact decimal strings (never floats), null when the bank reports none; times
are ISO 8601. The tests check every response against these schemas.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from rest_framework import serializers

from balances.domain.amounts import decimal_text, utilization
from balances.domain.totals import AccountPoint, CurrencyHistory, CurrencyTotals
from balances.models import Account, PlaidItem
from balances.plaid.errors import help_for_error

SOURCE_PLAID = "plaid"


def _iso(moment: datetime | date | None) -> str | None:
    return moment.isoformat() if moment else None


def totals_data(totals: list[CurrencyTotals]) -> list[dict[str, Any]]:
    return [
        {
            "currency": t.currency,
            "currency_is_official": t.currency_is_official,
            "net_worth": decimal_text(t.net_worth, official=t.currency_is_official),
            "assets": decimal_text(t.assets, official=t.currency_is_official),
            "liabilities": decimal_text(t.liabilities, official=t.currency_is_official),
        }
        for t in totals
    ]


def history_data(history: list[CurrencyHistory]) -> list[dict[str, Any]]:
    return [
        {
            "currency": h.currency,
            "currency_is_official": h.currency_is_official,
            "points": [
                {
                    "date": p.day.isoformat(),
                    "net_worth": decimal_text(p.net_worth, official=h.currency_is_official),
                    "assets": decimal_text(p.assets, official=h.currency_is_official),
                    "liabilities": decimal_text(p.liabilities, official=h.currency_is_official),
                }
                for p in h.points
            ],
        }
        for h in history
    ]


def account_data(account: Account) -> dict[str, Any]:
    official = account.currency_is_official
    credit = account.type == Account.Type.CREDIT
    return {
        "id": account.pk,
        "name": account.name,
        "official_name": account.official_name,
        "mask": account.mask,
        "type": account.type,
        "subtype": account.subtype,
        "source": SOURCE_PLAID,
        "institution": account.item.display_name,
        "connection_id": account.item_id,
        "currency": account.iso_currency_code or None,
        "unofficial_currency": None if official else (account.unofficial_currency_code or None),
        "available": decimal_text(account.available, official=official),
        "current": decimal_text(account.current, official=official),
        "limit": decimal_text(account.limit, official=official),
        "utilization": decimal_text(
            utilization(account.current, account.limit) if credit else None, official=False
        ),
        "balances_as_of": _iso(account.balances_updated_at),
        "closed_at": _iso(account.closed_at),
    }


def account_points_data(account: Account, points: list[AccountPoint]) -> list[dict[str, Any]]:
    official = account.currency_is_official
    return [
        {
            "date": p.day.isoformat(),
            "available": decimal_text(p.available, official=official),
            "current": decimal_text(p.current, official=official),
            "limit": decimal_text(p.limit, official=official),
        }
        for p in points
    ]


def connection_data(item: PlaidItem, account_ids: list[int]) -> dict[str, Any]:
    return {
        "id": item.pk,
        "institution": item.display_name,
        "status": item.status,
        "last_refreshed_at": _iso(item.last_refreshed_at),
        "stale": item.is_stale,
        "refresh_pending": item.is_refresh_pending,
        "error_code": item.error_code or None,
        "error_message": help_for_error(item.error_code) if item.error_code else None,
        "warning_code": item.warning_code or None,
        "expires_at": _iso(item.expires_at),
        "accounts": account_ids,
    }


# --- The schema ---------------------------------------------------------------------------


def _amount(help_text: str) -> serializers.CharField:
    return serializers.CharField(
        allow_null=True, help_text=f"{help_text} Exact decimal string; null when not reported."
    )


class ErrorSerializer(serializers.Serializer):
    detail = serializers.CharField(help_text="What went wrong, for a person to read.")


class RefreshRefusedSerializer(ErrorSerializer):
    retry_at = serializers.DateTimeField(
        allow_null=True, help_text="When the next on-demand refresh may run."
    )


class CurrencyTotalsSerializer(serializers.Serializer):
    currency = serializers.CharField(help_text="ISO code, or an unofficial one (crypto).")
    currency_is_official = serializers.BooleanField(
        help_text="False for unofficial currencies, listed after the official ones."
    )
    net_worth = serializers.CharField(help_text="Assets minus liabilities; exact decimal.")
    assets = serializers.CharField(help_text="Exact decimal string.")
    liabilities = serializers.CharField(help_text="Amount owed; exact decimal string.")


class NetWorthSerializer(serializers.Serializer):
    as_of = serializers.DateTimeField(
        allow_null=True,
        help_text="When the oldest balance counted was fetched: every figure is at least "
        "this recent (null without balances).",
    )
    main_currency = serializers.CharField()
    totals = CurrencyTotalsSerializer(
        many=True,
        help_text="One entry per currency, never converted or added together: official "
        "currencies first (the main one leading), unofficial ones after.",
    )


class NetWorthPointSerializer(serializers.Serializer):
    date = serializers.DateField()
    net_worth = serializers.CharField()
    assets = serializers.CharField()
    liabilities = serializers.CharField()


class NetWorthSeriesSerializer(serializers.Serializer):
    currency = serializers.CharField()
    currency_is_official = serializers.BooleanField()
    points = NetWorthPointSerializer(many=True, help_text="One per day, oldest first.")


class NetWorthHistorySerializer(serializers.Serializer):
    range = serializers.CharField()
    start = serializers.DateField(allow_null=True, help_text="Null for all history.")
    end = serializers.DateField()
    main_currency = serializers.CharField()
    series = NetWorthSeriesSerializer(many=True)


class AccountSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    official_name = serializers.CharField()
    mask = serializers.CharField(help_text="Last digits of the account number (may be empty).")
    type = serializers.CharField(help_text="depository, credit, loan, investment, ...")
    subtype = serializers.CharField()
    source = serializers.CharField(help_text="Where the account comes from: plaid.")
    institution = serializers.CharField()
    connection_id = serializers.IntegerField()
    currency = serializers.CharField(allow_null=True, help_text="ISO code, or null.")
    unofficial_currency = serializers.CharField(
        allow_null=True, help_text="Set when the account has no ISO currency (crypto)."
    )
    available = _amount("Available balance.")
    current = _amount("Current balance (for credit and loans: the amount owed).")
    limit = _amount("Credit limit.")
    utilization = serializers.CharField(
        allow_null=True, help_text="Credit accounts: current ÷ limit in percent, one decimal."
    )
    balances_as_of = serializers.DateTimeField(
        allow_null=True,
        help_text="When the bank last updated these balances (Plaid's last_updated_datetime; "
        "when Plaid reports none, when they were fetched). Older than the connection's "
        "last_refreshed_at for a bank that updates a card only now and then (Capital One).",
    )
    closed_at = serializers.DateTimeField(
        allow_null=True, help_text="Set when the bank stopped reporting the account."
    )


class AccountPointSerializer(serializers.Serializer):
    date = serializers.DateField()
    available = _amount("")
    current = _amount("")
    limit = _amount("")


class AccountHistorySerializer(serializers.Serializer):
    account = serializers.IntegerField()
    range = serializers.CharField()
    start = serializers.DateField(allow_null=True)
    end = serializers.DateField()
    points = AccountPointSerializer(many=True, help_text="One per day, oldest first.")


class ConnectionSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    institution = serializers.CharField()
    status = serializers.ChoiceField(choices=PlaidItem.Status.choices)
    last_refreshed_at = serializers.DateTimeField(allow_null=True)
    stale = serializers.BooleanField(help_text="Balances older than the stale threshold.")
    refresh_pending = serializers.BooleanField()
    error_code = serializers.CharField(allow_null=True, help_text="Plaid's error code.")
    error_message = serializers.CharField(
        allow_null=True, help_text="What the error means and what to do, for a person."
    )
    warning_code = serializers.CharField(allow_null=True)
    expires_at = serializers.DateTimeField(
        allow_null=True, help_text="When the bank's consent runs out, if it will."
    )
    accounts = serializers.ListField(
        child=serializers.IntegerField(), help_text="Ids of its open accounts."
    )


class RefreshQueuedSerializer(serializers.Serializer):
    connection = serializers.IntegerField()
    status = serializers.ChoiceField(
        choices=["queued", "pending"],
        help_text="queued: a refresh was queued now; pending: one was already queued.",
    )
    detail = serializers.CharField()


class _Page(serializers.Serializer):
    count = serializers.IntegerField(help_text="Rows on every page together.")
    next = serializers.URLField(allow_null=True, help_text="The next page, or null.")
    previous = serializers.URLField(allow_null=True, help_text="The previous page, or null.")


class AccountPageSerializer(_Page):
    results = AccountSerializer(many=True)


class ConnectionPageSerializer(_Page):
    results = ConnectionSerializer(many=True)
