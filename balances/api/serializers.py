"""The API's JSON shapes: functions that build them (fast: plain dicts, no serializer
machinery per row) and the serializers that document them in the OpenAPI schema.

Amounts are exact decimal strings (never floats), null when the bank reports none; times
are ISO 8601. The tests check every response against these schemas.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from balances.domain.amounts import decimal_text, utilization
from balances.domain.totals import AccountPoint, CurrencyHistory, CurrencyTotals
from balances.models import Account, ManualAccount, PlaidItem
from balances.plaid.errors import help_for_error
from balances.services import manual_accounts

# Where an account comes from. In GET /accounts/ a manual account's id is "m<id>" (a
# string), so it never equals a Plaid account's (an integer); <id> is its id under
# /manual-accounts/.
SOURCE_PLAID, SOURCE_MANUAL = "plaid", "manual"


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


def _owner_of(account: Account | ManualAccount) -> str:
    """The owner's username: annotated by the list selectors (`owner_name`), else read."""
    annotated = getattr(account, "owner_name", None)
    if annotated is not None:
        return str(annotated)
    if isinstance(account, ManualAccount):
        return account.owner.username
    return account.item.owner.username


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
        "value_as_of": None,
        "closed_at": _iso(account.closed_at),
        "owner": _owner_of(account),
    }


def manual_account_data(account: ManualAccount) -> dict[str, Any]:
    """An account entered by hand, as GET/POST/PATCH /manual-accounts/ return it."""
    official = account.currency_is_official
    return {
        "id": account.pk,
        "name": account.name,
        "kind": account.kind,
        "category": account.category,
        "type": account.type,
        "source": SOURCE_MANUAL,
        "currency": account.iso_currency_code or None,
        "unofficial_currency": None if official else (account.unofficial_currency_code or None),
        "value": decimal_text(account.value, official=official),
        "value_as_of": account.value_as_of.isoformat(),
        "note": account.note,
        "created_at": _iso(account.created_at),
        "updated_at": _iso(account.updated_at),
        "owner": _owner_of(account),
    }


def manual_account_listed(account: ManualAccount) -> dict[str, Any]:
    """An account entered by hand in GET /accounts/, beside the Plaid accounts."""
    official = account.currency_is_official
    return {
        "id": account.api_id,
        "name": account.name,
        "official_name": "",
        "mask": "",
        "type": account.type,
        "subtype": account.category,
        "source": SOURCE_MANUAL,
        "institution": None,
        "connection_id": None,
        "currency": account.iso_currency_code or None,
        "unofficial_currency": None if official else (account.unofficial_currency_code or None),
        "available": None,
        "current": decimal_text(account.value, official=official),
        "limit": None,
        "utilization": None,
        "balances_as_of": None,
        "value_as_of": account.value_as_of.isoformat(),
        "closed_at": None,
        "owner": _owner_of(account),
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


class FieldErrorsSerializer(ErrorSerializer):
    errors = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        required=False,
        help_text='Each field\'s messages, e.g. {"value": ["Enter a number ..."]}.',
    )


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


@extend_schema_field(
    {
        "oneOf": [
            {"type": "integer", "description": "A Plaid account's id (/accounts/{id}/)."},
            {
                "type": "string",
                "pattern": "^m[0-9]+$",
                "description": 'An account entered by hand: "m" and its id under '
                "/manual-accounts/.",
            },
        ]
    }
)
class AccountIdField(serializers.Field):
    def to_representation(self, value: Any) -> Any:
        return value


class AccountSerializer(serializers.Serializer):
    id = AccountIdField(
        help_text='An integer for a Plaid account; "m<id>" for one entered by hand '
        "(source manual), so the two never collide."
    )
    name = serializers.CharField()
    official_name = serializers.CharField()
    mask = serializers.CharField(help_text="Last digits of the account number (may be empty).")
    type = serializers.CharField(help_text="depository, credit, loan, investment, ...")
    subtype = serializers.CharField()
    source = serializers.ChoiceField(
        choices=[SOURCE_PLAID, SOURCE_MANUAL],
        help_text="Where the account comes from: plaid (a linked bank) or manual (entered "
        "by hand; see /manual-accounts/).",
    )
    institution = serializers.CharField(allow_null=True, help_text="Null for manual accounts.")
    connection_id = serializers.IntegerField(allow_null=True, help_text="Null for manual accounts.")
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
    value_as_of = serializers.DateField(
        allow_null=True, help_text="Manual accounts: the day of the value (`current`)."
    )
    closed_at = serializers.DateTimeField(
        allow_null=True, help_text="Set when the bank stopped reporting the account."
    )
    owner = serializers.CharField(
        help_text="The owner's username: yours, or whoever shares the account with you "
        "(`view=household`). Shared accounts are read-only."
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


# --- Accounts entered by hand: input and output -----------------------------------------


@extend_schema_field(
    {
        "oneOf": [{"type": "string"}, {"type": "integer"}],
        "description": 'A decimal string such as "350000.00" (or a JSON integer); a '
        "liability's value is the amount owed. Never read through a float.",
    }
)
class ValueField(serializers.Field):
    """An amount: a decimal string or a JSON integer (a JSON fraction is parsed as a
    Decimal by `DecimalJSONParser`), never a float."""

    def to_internal_value(self, data: Any) -> Any:
        try:
            return manual_accounts.clean_value(data)
        except DjangoValidationError as error:
            raise serializers.ValidationError(error.messages) from None

    def to_representation(self, value: Any) -> Any:
        return value


class ManualAccountWriteSerializer(serializers.Serializer):
    """The body of POST /manual-accounts/ (PATCH: any of its fields)."""

    name = serializers.CharField(max_length=manual_accounts.MAX_NAME)
    kind = serializers.ChoiceField(choices=ManualAccount.Kind.values)
    category = serializers.ChoiceField(choices=ManualAccount.Category.values)
    currency = serializers.CharField(
        max_length=10,
        help_text="An ISO 4217 code (USD); for a crypto asset, its ticker (BTC), kept as "
        "`unofficial_currency`.",
    )
    value = ValueField()
    as_of = serializers.DateField(
        required=False,
        help_text="The day of the value (default today; not in the future). A past day "
        "counts in the daily history from then until the next value.",
    )
    note = serializers.CharField(
        required=False, allow_blank=True, max_length=manual_accounts.MAX_NOTE
    )

    def validate_name(self, value: str) -> str:
        return _django(manual_accounts.clean_name, value)

    def validate_as_of(self, value: Any) -> Any:
        return _django(manual_accounts.clean_as_of, value)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if "currency" in attrs:
            category = attrs.get("category", getattr(self.instance, "category", None))
            try:
                manual_accounts.clean_currency(attrs["currency"], category=category)
            except DjangoValidationError as error:
                raise serializers.ValidationError({"currency": error.messages}) from None
        if "as_of" in attrs and "value" not in attrs:
            raise serializers.ValidationError({"as_of": ["Send as_of with a new value."]})
        return attrs


def _django(check: Any, value: Any) -> Any:
    try:
        return check(value)
    except DjangoValidationError as error:
        raise serializers.ValidationError(error.messages) from None


class ManualAccountSerializer(serializers.Serializer):
    id = serializers.IntegerField(
        help_text='Its id under /manual-accounts/ ("m<id>" in /accounts/).'
    )
    name = serializers.CharField()
    kind = serializers.ChoiceField(choices=ManualAccount.Kind.values)
    category = serializers.ChoiceField(choices=ManualAccount.Category.values)
    type = serializers.CharField(help_text="The account type whose group it shows in.")
    source = serializers.ChoiceField(choices=[SOURCE_MANUAL])
    currency = serializers.CharField(allow_null=True, help_text="ISO code, or null.")
    unofficial_currency = serializers.CharField(
        allow_null=True, help_text="Set when the currency is not an ISO one (crypto)."
    )
    value = serializers.CharField(help_text="Its latest value; exact decimal string.")
    value_as_of = serializers.DateField(help_text="The day of that value.")
    note = serializers.CharField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()
    owner = serializers.CharField(
        help_text="The owner's username: yours, or whoever shares the account with you "
        "(`view=household`). Shared accounts are read-only."
    )


class ManualAccountPageSerializer(_Page):
    results = ManualAccountSerializer(many=True)
