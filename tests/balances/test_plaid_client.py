"""The client module against a local HTTP server, through the real plaid-python SDK."""

import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from balances.plaid import client as plaid_client
from balances.plaid.errors import PlaidError
from tests.conftest import example_reply


def error_body(error_type, code, request_id="req-123"):
    return {
        "error_type": error_type,
        "error_code": code,
        "error_message": f"{code} happened",
        "display_message": None,
        "request_id": request_id,
    }


def test_balance_reply_becomes_our_dataclasses_with_decimals(stub_plaid):
    stub_plaid.reply("/accounts/balance/get", example_reply())
    result = plaid_client.accounts_balance_get("access-sandbox-xyz")
    assert result.item_id == "QNWnmvzAKwcx9RwPXqVMSoRBjkroVnhpge7bq"
    assert result.institution_id == "ins_3"
    assert result.request_id == "gs794"
    assert [a.mask for a in result.accounts] == ["0000", "1111", "2222", "3333", "4444"]
    card = result.accounts[3]
    assert (card.type, card.subtype) == ("credit", "credit card")
    assert card.balances.current == Decimal("410")
    assert card.balances.limit == Decimal("2000")
    assert isinstance(card.balances.current, Decimal)
    assert result.accounts[2].balances.available is None


def test_credentials_travel_as_headers_and_token_in_body(stub_plaid):
    stub_plaid.reply("/accounts/balance/get", example_reply())
    plaid_client.accounts_balance_get("access-sandbox-xyz", account_ids=["a1"])
    _path, headers, body = stub_plaid.requests[0]
    lowered = {k.lower(): v for k, v in headers.items()}
    assert lowered["plaid-client-id"] == "stub-client"
    assert lowered["plaid-secret"] == "stub-secret"
    assert body["access_token"] == "access-sandbox-xyz"
    assert body["options"] == {"account_ids": ["a1"]}


def test_fractional_amounts_keep_their_digits(stub_plaid):
    reply = example_reply()
    reply["accounts"][0]["balances"]["current"] = 23631.9805
    stub_plaid.reply("/accounts/balance/get", reply)
    result = plaid_client.accounts_balance_get("t")
    assert result.accounts[0].balances.current == Decimal("23631.9805")


@pytest.mark.parametrize(
    ("status", "error_type", "code", "retryable"),
    [
        (400, "ITEM_ERROR", "ITEM_LOGIN_REQUIRED", False),
        (400, "INVALID_INPUT", "INVALID_ACCESS_TOKEN", False),
        (400, "INSTITUTION_ERROR", "INSTITUTION_DOWN", True),
        (400, "INSTITUTION_ERROR", "INSTITUTION_NOT_RESPONDING", True),
        (429, "RATE_LIMIT_EXCEEDED", "BALANCE_LIMIT", True),
        (500, "API_ERROR", "INTERNAL_SERVER_ERROR", True),
        (503, "API_ERROR", "PLANNED_MAINTENANCE", True),
        (400, "INVALID_RESULT", "LAST_UPDATED_DATETIME_OUT_OF_RANGE", False),
        (400, "NEW_TYPE", "A_CODE_WE_HAVE_NEVER_SEEN", False),
    ],
)
def test_plaid_errors_become_one_plaid_error(stub_plaid, status, error_type, code, retryable):
    stub_plaid.reply("/accounts/balance/get", error_body(error_type, code), status=status)
    with pytest.raises(PlaidError) as raised:
        plaid_client.accounts_balance_get("access-sandbox-xyz")
    error = raised.value
    assert (error.code, error.error_type, error.http_status) == (code, error_type, status)
    assert error.request_id == "req-123"
    assert error.retryable is retryable
    assert "access-sandbox-xyz" not in repr(error) + str(error)


def test_error_without_json_body(stub_plaid):
    stub_plaid.reply("/accounts/balance/get", raw=b"<html>Bad gateway</html>", status=502)
    with pytest.raises(PlaidError) as raised:
        plaid_client.accounts_balance_get("t")
    assert (raised.value.code, raised.value.retryable) == ("HTTP_502", True)


@pytest.mark.parametrize(
    "mangle",
    [
        lambda r: r["accounts"][0].pop("mask"),  # a required key missing
        lambda r: r["accounts"][0]["balances"].update(current="lots"),  # wrong type
        lambda r: r.pop("item"),
        lambda r: r["item"].pop("update_type"),  # the sample lacks it; today's API sends it
        lambda r: r["accounts"][1]["balances"].pop("limit"),  # required, even when null
        lambda r: r["accounts"][0]["balances"].update(current=True),  # a bool is no amount
        lambda r: r["accounts"][0].update(name=None),
        lambda r: r["accounts"][0].update(type="spaceship"),  # not an account type
        lambda r: r["accounts"][0]["balances"].update(last_updated_datetime="yesterday"),
        lambda r: r["accounts"][0]["balances"].update(last_updated_datetime="2026-11-24T10:00"),
        lambda r: r.update(accounts={"0": r["accounts"][0]}),
        lambda r: r.update(request_id=7),
    ],
)
def test_malformed_reply_is_a_retryable_plaid_error(stub_plaid, mangle):
    reply = example_reply()
    mangle(reply)
    stub_plaid.reply("/accounts/balance/get", reply)
    with pytest.raises(PlaidError) as raised:
        plaid_client.accounts_balance_get("t")
    error = raised.value
    assert (error.code, error.retryable) == ("MALFORMED_RESPONSE", True)
    # Reported like every other failure, for the Item's call log.
    assert error.endpoint == "/accounts/balance/get"
    assert error.duration_ms is not None


@pytest.mark.parametrize("body", [b"[]", b"null", b'{"accounts": NaN}', b"\xff\xfe"])
def test_reply_that_is_no_json_object_is_malformed(stub_plaid, body):
    stub_plaid.reply("/accounts/get", raw=body)
    with pytest.raises(PlaidError) as raised:
        plaid_client.accounts_get("t")
    assert (raised.value.code, raised.value.endpoint) == ("MALFORMED_RESPONSE", "/accounts/get")


def test_amounts_and_times_parse_exactly(stub_plaid):
    reply = example_reply()
    reply["accounts"][4]["balances"]["last_updated_datetime"] = "2026-11-24T10:30:00Z"
    body = json.dumps(reply).replace('"current": 43200', '"current": 12345678901234.5678')
    assert "12345678901234.5678" in body  # more digits than a float keeps
    stub_plaid.reply("/accounts/balance/get", raw=body.encode())
    result = plaid_client.accounts_balance_get("t").accounts[4].balances
    assert result.current == Decimal("12345678901234.5678")
    assert result.available == Decimal("43200")
    assert result.last_updated_at == datetime(2026, 11, 24, 10, 30, tzinfo=UTC)


def test_truncated_reply_is_a_retryable_plaid_error(stub_plaid):
    stub_plaid.reply("/accounts/balance/get", raw=json.dumps(example_reply()).encode()[:200])
    with pytest.raises(PlaidError) as raised:
        plaid_client.accounts_balance_get("t")
    assert (raised.value.code, raised.value.retryable) == ("MALFORMED_RESPONSE", True)


def test_timeout_is_a_retryable_plaid_error(stub_plaid, settings):
    settings.PLAID_TIMEOUT = (1.0, 0.3)
    stub_plaid.reply("/accounts/balance/get", example_reply(), delay=1.0)
    with pytest.raises(PlaidError) as raised:
        plaid_client.accounts_balance_get("t")
    assert (raised.value.code, raised.value.retryable) == ("TIMEOUT", True)


def test_refused_connection_is_a_retryable_plaid_error(settings):
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    settings.PLAID_HOST = f"http://127.0.0.1:{port}"
    settings.PLAID_CLIENT_ID, settings.PLAID_SECRET = "id", "secret"
    with pytest.raises(PlaidError) as raised:
        plaid_client.accounts_balance_get("t")
    assert (raised.value.code, raised.value.retryable) == ("CONNECTION_ERROR", True)


def test_missing_credentials_is_a_clear_error(settings):
    settings.PLAID_CLIENT_ID = ""
    with pytest.raises(PlaidError) as raised:
        plaid_client.accounts_balance_get("t")
    assert raised.value.code == "NOT_CONFIGURED"


def test_client_is_built_once_per_process_and_settings(stub_plaid, settings):
    first = plaid_client.get_api()
    assert plaid_client.get_api() is first
    settings.PLAID_SECRET = "rotated"
    assert plaid_client.get_api() is not first


def test_exchange_keeps_the_token_out_of_repr(stub_plaid):
    stub_plaid.reply(
        "/item/public_token/exchange",
        {"access_token": "access-sandbox-secret", "item_id": "it1", "request_id": "r1"},
    )
    exchange = plaid_client.item_public_token_exchange("public-sandbox-1")
    assert exchange.access_token == "access-sandbox-secret"
    assert "access-sandbox-secret" not in repr(exchange)
