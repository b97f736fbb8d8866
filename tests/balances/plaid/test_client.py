"""`balances.plaid.client` against a local HTTP server, through the real plaid-python SDK."""

import json
import socket
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from balances.plaid import client as plaid_client
from balances.plaid.errors import PlaidError
from tests.balances.plaid.replies import MANGLES, NOT_JSON_OBJECTS
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


@pytest.mark.parametrize("mangle", MANGLES)
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


@pytest.mark.parametrize("body", NOT_JSON_OBJECTS)
def test_reply_that_is_no_json_object_is_malformed(stub_plaid, body):
    stub_plaid.reply("/accounts/get", raw=body)
    with pytest.raises(PlaidError) as raised:
        plaid_client.accounts_get("t")
    assert (raised.value.code, raised.value.endpoint) == ("MALFORMED_RESPONSE", "/accounts/get")


def test_amounts_and_times_arrive_exactly(stub_plaid):
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


# --- /link/token/create and /item/remove ---------------------------------------------

LINK_REPLY = {
    "link_token": "link-sandbox-af1a0311-da53-4636-b754-dd15cc058176",
    "expiration": "2030-01-01T04:00:00Z",
    "request_id": "req-link",
}


@pytest.fixture
def link_settings(settings):
    settings.PLAID_CLIENT_NAME = "My Money"
    settings.PLAID_LINK_LANGUAGE = "en"
    settings.PLAID_COUNTRY_CODES = ["US", "CA"]
    settings.PLAID_PRODUCTS = ["transactions", "auth"]
    return settings


def test_normal_mode_asks_for_products_from_settings(stub_plaid, link_settings):
    stub_plaid.reply("/link/token/create", LINK_REPLY)
    token = plaid_client.link_token_create(
        client_user_id="3f1c-uuid", webhook="https://money.example.com/plaid/webhook/"
    )
    assert token.link_token == LINK_REPLY["link_token"]
    assert token.expiration == datetime(2030, 1, 1, 4, 0, tzinfo=UTC)
    assert token.request_id == "req-link"
    assert LINK_REPLY["link_token"] not in repr(token)
    path, _headers, body = stub_plaid.requests[0]
    assert path == "/link/token/create"
    assert body == {
        "client_name": "My Money",
        "language": "en",
        "country_codes": ["US", "CA"],
        "user": {"client_user_id": "3f1c-uuid"},
        "products": ["transactions", "auth"],
        "webhook": "https://money.example.com/plaid/webhook/",
    }


def test_update_mode_sends_the_access_token_and_no_products(stub_plaid, link_settings):
    stub_plaid.reply("/link/token/create", LINK_REPLY)
    plaid_client.link_token_create(client_user_id="u1", access_token="access-sandbox-secret")
    body = stub_plaid.requests[0][2]
    assert body["access_token"] == "access-sandbox-secret"
    assert "products" not in body
    assert "update" not in body
    assert "webhook" not in body


def test_redirect_uri_is_sent_when_given(stub_plaid, link_settings):
    stub_plaid.reply("/link/token/create", LINK_REPLY)
    plaid_client.link_token_create(
        client_user_id="u1", redirect_uri="https://money.example.com/link/oauth-return/"
    )
    plaid_client.link_token_create(client_user_id="u1")
    with_uri, without = (request[2] for request in stub_plaid.requests)
    assert with_uri["redirect_uri"] == "https://money.example.com/link/oauth-return/"
    assert "redirect_uri" not in without


def test_update_mode_with_account_selection(stub_plaid, link_settings):
    stub_plaid.reply("/link/token/create", LINK_REPLY)
    plaid_client.link_token_create(client_user_id="u1", access_token="a", account_selection=True)
    assert stub_plaid.requests[0][2]["update"] == {"account_selection_enabled": True}


def test_refusal_is_a_plaid_error_without_the_token(stub_plaid, link_settings):
    stub_plaid.reply(
        "/link/token/create",
        {
            "error_type": "INVALID_INPUT",
            "error_code": "INVALID_ACCESS_TOKEN",
            "error_message": "bad token",
            "display_message": None,
            "request_id": "req-9",
        },
        status=400,
    )
    with pytest.raises(PlaidError) as raised:
        plaid_client.link_token_create(client_user_id="u1", access_token="access-sandbox-secret")
    assert (raised.value.code, raised.value.request_id) == ("INVALID_ACCESS_TOKEN", "req-9")
    assert raised.value.retryable is False
    assert "access-sandbox-secret" not in repr(raised.value) + str(raised.value)


def test_item_remove_returns_the_request_id(stub_plaid):
    stub_plaid.reply("/item/remove", {"request_id": "req-rm"})
    assert plaid_client.item_remove("access-sandbox-secret") == "req-rm"
    assert stub_plaid.requests[0][2] == {"access_token": "access-sandbox-secret"}


# --- The connection pool: one keep-alive connection per worker thread --------------------


def test_connection_pool_size_follows_the_setting(settings):
    settings.PLAID_CLIENT_ID = "id"
    settings.PLAID_SECRET = "secret"
    settings.PLAID_HOST = "http://127.0.0.1:9/pool-size-test"  # a new client is built
    settings.PLAID_CONNECTION_POOL_SIZE = 17
    api = plaid_client.get_api()
    assert api.api_client.configuration.connection_pool_maxsize == 17
    assert api.api_client.rest_client.pool_manager.connection_pool_kw["maxsize"] == 17


# --- The other endpoints: replies become our dataclasses ----------------------------------


def test_accounts_get_reads_cached_balances_and_times_the_call(stub_plaid):
    stub_plaid.reply("/accounts/get", example_reply())
    result = plaid_client.accounts_get("access-sandbox-xyz")
    assert len(result.accounts) == 5
    assert result.accounts[0].balances.current == Decimal("110")
    assert result.duration_ms is not None and result.duration_ms >= 0
    path, _headers, body = stub_plaid.requests[0]
    assert (path, body) == ("/accounts/get", {"access_token": "access-sandbox-xyz"})


def test_balance_get_sends_min_last_updated_datetime(stub_plaid):
    stub_plaid.reply("/accounts/balance/get", example_reply())
    result = plaid_client.accounts_balance_get(
        "t", min_last_updated_datetime=datetime(2026, 11, 24, 10, 30, tzinfo=UTC)
    )
    assert result.duration_ms is not None
    options = stub_plaid.requests[0][2]["options"]
    assert list(options) == ["min_last_updated_datetime"]
    assert datetime.fromisoformat(options["min_last_updated_datetime"]) == datetime(
        2026, 11, 24, 10, 30, tzinfo=UTC
    )


def test_item_get_reports_institution_webhook_and_error(stub_plaid):
    stub_plaid.reply(
        "/item/get",
        {
            "item": {
                "item_id": "it1",
                "institution_id": "ins_3",
                "webhook": "https://money.example.com/plaid/webhook/",
                "error": {
                    "error_type": "ITEM_ERROR",
                    "error_code": "ITEM_LOGIN_REQUIRED",
                    "error_message": "login required",
                    "display_message": None,
                    "request_id": "req-e",
                },
                "available_products": ["balance"],
                "billed_products": [],
                "consent_expiration_time": "2027-01-01T00:00:00Z",
                "update_type": "background",
            },
            "request_id": "req-item",
        },
    )
    info = plaid_client.item_get("access-sandbox-secret")
    assert (info.item_id, info.institution_id, info.error_code, info.request_id) == (
        "it1",
        "ins_3",
        "ITEM_LOGIN_REQUIRED",
        "req-item",
    )
    assert info.webhook == "https://money.example.com/plaid/webhook/"
    assert info.consent_expiration_time == datetime(2027, 1, 1, tzinfo=UTC)
    assert stub_plaid.requests[0][2] == {"access_token": "access-sandbox-secret"}


def test_institution_name_is_asked_in_our_countries(stub_plaid, settings):
    settings.PLAID_COUNTRY_CODES = ["US", "CA"]
    stub_plaid.reply(
        "/institutions/get_by_id",
        {
            "institution": {
                "institution_id": "ins_3",
                "name": "Chase",
                "products": ["balance"],
                "country_codes": ["US"],
                "routing_numbers": [],
                "dtc_numbers": [],
                "oauth": False,
                "connection_availability": "SUPPORTED",
            },
            "request_id": "req-ins",
        },
    )
    institution = plaid_client.institutions_get_by_id("ins_3")
    assert (institution.institution_id, institution.name) == ("ins_3", "Chase")
    body = stub_plaid.requests[0][2]
    assert (body["institution_id"], body["country_codes"]) == ("ins_3", ["US", "CA"])


def test_sandbox_public_token_with_and_without_webhook(stub_plaid):
    stub_plaid.reply(
        "/sandbox/public_token/create",
        {"public_token": "public-sandbox-1", "request_id": "req-pt"},
    )
    assert (
        plaid_client.sandbox_public_token_create("ins_109508", initial_products=["transactions"])
        == "public-sandbox-1"
    )
    plaid_client.sandbox_public_token_create(
        "ins_109508", initial_products=["auth"], webhook="https://example.com/hook/"
    )
    plain, with_webhook = (request[2] for request in stub_plaid.requests)
    assert plain == {"institution_id": "ins_109508", "initial_products": ["transactions"]}
    assert with_webhook["options"] == {"webhook": "https://example.com/hook/"}


def test_webhook_key_keeps_only_the_public_jwk(stub_plaid):
    stub_plaid.reply(
        "/webhook_verification_key/get",
        {
            "key": {
                "alg": "ES256",
                "crv": "P-256",
                "kid": "key-1",
                "kty": "EC",
                "use": "sig",
                "x": "x-coordinate",
                "y": "y-coordinate",
                "created_at": 1700000000,
                "expired_at": None,
            },
            "request_id": "req-key",
        },
    )
    key = plaid_client.webhook_verification_key_get("key-1")
    assert key.kid == "key-1"
    assert key.jwk == {
        "kty": "EC",
        "crv": "P-256",
        "x": "x-coordinate",
        "y": "y-coordinate",
        "alg": "ES256",
        "kid": "key-1",
    }
    assert (key.created_at, key.expired_at) == (1700000000, None)
    assert stub_plaid.requests[0][2] == {"key_id": "key-1"}


@pytest.mark.parametrize(
    ("endpoint", "call"),
    [
        ("/item/get", lambda: plaid_client.item_get("t")),
        ("/item/remove", lambda: plaid_client.item_remove("t")),
        ("/institutions/get_by_id", lambda: plaid_client.institutions_get_by_id("ins_1")),
        ("/webhook_verification_key/get", lambda: plaid_client.webhook_verification_key_get("k")),
    ],
)
def test_every_endpoint_reports_its_failures_as_plaid_errors(stub_plaid, endpoint, call):
    stub_plaid.reply(endpoint, error_body("API_ERROR", "INTERNAL_SERVER_ERROR"), status=500)
    with pytest.raises(PlaidError) as raised:
        call()
    assert (raised.value.code, raised.value.endpoint, raised.value.retryable) == (
        "INTERNAL_SERVER_ERROR",
        endpoint,
        True,
    )
    assert raised.value.duration_ms is not None


def test_webhook_key_fetch_has_its_own_short_timeout(stub_plaid, settings):
    # A web worker waits for this call while the (possibly forged) webhook's sender waits.
    settings.PLAID_TIMEOUT = (1.0, 30.0)
    settings.PLAID_WEBHOOK_KEY_TIMEOUT = 0.3
    stub_plaid.reply("/webhook_verification_key/get", {"key": {}}, delay=1.0)
    with pytest.raises(PlaidError) as raised:
        plaid_client.webhook_verification_key_get("k")
    assert raised.value.code == "TIMEOUT"
