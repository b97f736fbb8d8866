"""Strict parsing of Plaid's accounts replies (`/accounts/get`, `/accounts/balance/get`).

The SDK's own models would parse a reply too, then `to_dict()` would copy it again: that
cost 2 ms of CPU per call, more than the rest of the call (profile in docs/BENCHMARKS.md),
so the body is read as JSON here, as strictly as the SDK would: every required key, every
type, a known account type, time zones on time stamps, no NaN, JSON numbers straight into
Decimal (every digit Plaid sent). Raises KeyError, TypeError or ValueError, which the
client reports as MALFORMED_RESPONSE.
"""

from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal
from typing import Any

from balances.plaid.types import Account, AccountsResult, Balances

# Plaid's account types (the SDK's `AccountType` enum; tests/balances/plaid/test_parse.py
# checks the two agree).
ACCOUNT_TYPES = frozenset({"investment", "credit", "depository", "loan", "brokerage", "other"})


def _reject_constant(name: str) -> Decimal:
    raise ValueError(f"{name} is not a number")


def _json(data: bytes) -> Any:
    """Parse a reply body; JSON numbers become Decimal with the digits Plaid sent."""
    return json.loads(data, parse_float=Decimal, parse_int=Decimal, parse_constant=_reject_constant)


def _field(obj: dict[str, Any], key: str, kind: type | tuple[type, ...]) -> Any:
    """Return `obj[key]`, which must be present and of `kind` (raise KeyError, TypeError)."""
    value = obj[key]
    if not isinstance(value, kind):
        raise TypeError(f"{key}: {type(value).__name__} where {kind} was expected")
    return value


_STR = (str,)
_STR_OR_NONE = (str, type(None))
_MONEY = (Decimal, type(None))
# Keys the reply must carry (the OpenAPI spec's `required`, as plaid-python enforces it).
_ITEM_KEYS = (
    "item_id",
    "webhook",
    "error",
    "available_products",
    "billed_products",
    "consent_expiration_time",
    "update_type",
)


def _datetime(value: str | None) -> datetime | None:
    if value is None:
        return None
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        raise ValueError(f"{value!r} has no time zone")
    return parsed


def _account(a: dict[str, Any]) -> Account:
    b = _field(a, "balances", dict)
    account_type = _field(a, "type", _STR)
    if account_type not in ACCOUNT_TYPES:
        raise ValueError(f"unknown account type {account_type!r}")
    return Account(
        account_id=_field(a, "account_id", _STR),
        name=_field(a, "name", _STR),
        official_name=_field(a, "official_name", _STR_OR_NONE),
        mask=_field(a, "mask", _STR_OR_NONE),
        type=account_type,
        subtype=_field(a, "subtype", _STR_OR_NONE),
        balances=Balances(
            available=_field(b, "available", _MONEY),
            current=_field(b, "current", _MONEY),
            limit=_field(b, "limit", _MONEY),
            iso_currency_code=_field(b, "iso_currency_code", _STR_OR_NONE),
            unofficial_currency_code=_field(b, "unofficial_currency_code", _STR_OR_NONE),
            last_updated_at=_datetime(b.get("last_updated_datetime")),
        ),
    )


def accounts_result(body: bytes) -> AccountsResult:
    """Parse an accounts reply strictly (every required key, every type) into dataclasses."""
    reply = _json(body)
    if not isinstance(reply, dict):
        raise TypeError(f"the reply is a JSON {type(reply).__name__}, not an object")
    item = _field(reply, "item", dict)
    missing = [key for key in _ITEM_KEYS if key not in item]
    if missing:
        raise KeyError(", ".join(missing))
    return AccountsResult(
        item_id=_field(item, "item_id", _STR),
        institution_id=_field(item, "institution_id", _STR_OR_NONE)
        if "institution_id" in item
        else None,
        request_id=_field(reply, "request_id", _STR),
        accounts=tuple(_account(a) for a in _field(reply, "accounts", list)),
    )
