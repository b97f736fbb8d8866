"""`balances.plaid.parse`: accounts replies read as strictly as the SDK would."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from plaid.model.account_type import AccountType

from balances.plaid import parse
from balances.plaid.types import Account, AccountsResult, Balances
from tests.balances.plaid.replies import MANGLES, NOT_JSON_OBJECTS
from tests.conftest import example_reply

# What the client catches and reports as MALFORMED_RESPONSE.
PARSE_ERRORS = (KeyError, TypeError, ValueError)


def body(reply) -> bytes:
    return json.dumps(reply).encode()


def test_account_types_are_the_sdks():
    assert frozenset(AccountType.allowed_values[("value",)].values()) == parse.ACCOUNT_TYPES


def test_sample_reply_becomes_our_dataclasses():
    result = parse.accounts_result(body(example_reply()))
    assert isinstance(result, AccountsResult)
    assert (result.item_id, result.institution_id, result.request_id) == (
        "QNWnmvzAKwcx9RwPXqVMSoRBjkroVnhpge7bq",
        "ins_3",
        "gs794",
    )
    assert result.duration_ms is None  # the client adds the call's time
    assert all(isinstance(a, Account) for a in result.accounts)
    assert result.accounts[3] == Account(
        account_id=result.accounts[3].account_id,
        name="Plaid Credit Card",
        official_name="Plaid Diamond 12.5% APR Interest Credit Card",
        mask="3333",
        type="credit",
        subtype="credit card",
        balances=Balances(
            available=None,
            current=Decimal("410"),
            limit=Decimal("2000"),
            iso_currency_code="USD",
            unofficial_currency_code=None,
            last_updated_at=None,
        ),
    )


@pytest.mark.parametrize("mangle", MANGLES)
def test_malformed_reply_is_refused(mangle):
    reply = example_reply()
    mangle(reply)
    with pytest.raises(PARSE_ERRORS):
        parse.accounts_result(body(reply))


@pytest.mark.parametrize("raw", NOT_JSON_OBJECTS)
def test_reply_that_is_no_json_object_is_refused(raw):
    with pytest.raises(PARSE_ERRORS):
        parse.accounts_result(raw)


def test_truncated_reply_is_refused():
    with pytest.raises(PARSE_ERRORS):
        parse.accounts_result(body(example_reply())[:200])


# Keys the OpenAPI spec requires (plaid-python refuses a reply without one), even where
# their value may be null.
REQUIRED = {
    "reply": ("item", "accounts", "request_id"),
    "item": (
        "item_id",
        "webhook",
        "error",
        "available_products",
        "billed_products",
        "consent_expiration_time",
        "update_type",
    ),
    "account": ("account_id", "balances", "mask", "name", "official_name", "subtype", "type"),
    "balances": ("available", "current", "limit", "iso_currency_code", "unofficial_currency_code"),
}


@pytest.mark.parametrize(
    ("where", "key"), [(where, key) for where, keys in REQUIRED.items() for key in keys]
)
def test_every_required_key_is_required(where, key):
    reply = example_reply()
    target = {
        "reply": reply,
        "item": reply["item"],
        "account": reply["accounts"][0],
        "balances": reply["accounts"][0]["balances"],
    }[where]
    del target[key]
    with pytest.raises(PARSE_ERRORS):
        parse.accounts_result(body(reply))


def test_optional_keys_may_be_missing():
    reply = example_reply()
    del reply["item"]["institution_id"]
    reply["accounts"][0]["balances"].pop("last_updated_datetime", None)
    result = parse.accounts_result(body(reply))
    assert result.institution_id is None
    assert result.accounts[0].balances.last_updated_at is None


@pytest.mark.parametrize("account_type", sorted(parse.ACCOUNT_TYPES))
def test_every_account_type_is_accepted(account_type):
    reply = example_reply()
    reply["accounts"][0]["type"] = account_type
    assert parse.accounts_result(body(reply)).accounts[0].type == account_type


def test_amounts_and_times_parse_exactly():
    reply = example_reply()
    reply["accounts"][4]["balances"]["last_updated_datetime"] = "2026-11-24T10:30:00Z"
    reply["accounts"][3]["balances"]["last_updated_datetime"] = "2026-11-24T10:30:00-05:00"
    raw = json.dumps(reply).replace('"current": 43200', '"current": 12345678901234.5678')
    assert "12345678901234.5678" in raw  # more digits than a float keeps
    result = parse.accounts_result(raw.encode())
    balances = result.accounts[4].balances
    assert balances.current == Decimal("12345678901234.5678")
    assert balances.available == Decimal("43200")
    assert isinstance(balances.available, Decimal)
    assert balances.last_updated_at == datetime(2026, 11, 24, 10, 30, tzinfo=UTC)
    assert result.accounts[3].balances.last_updated_at == datetime(
        2026, 11, 24, 10, 30, tzinfo=timezone(timedelta(hours=-5))
    )


def test_fractional_amounts_keep_their_digits():
    reply = example_reply()
    reply["accounts"][0]["balances"]["current"] = 23631.9805
    assert parse.accounts_result(body(reply)).accounts[0].balances.current == Decimal("23631.9805")


def test_missing_balances_stay_missing():
    reply = example_reply()
    reply["accounts"][0]["balances"].update(available=None, current=None, limit=None)
    balances = parse.accounts_result(body(reply)).accounts[0].balances
    assert (balances.available, balances.current, balances.limit) == (None, None, None)
