"""`plaid_client.link_token_create` against a local HTTP server, through the real SDK."""

from datetime import UTC, datetime

import pytest

from balances.plaid import client as plaid_client
from balances.plaid.errors import PlaidError

REPLY = {
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
    stub_plaid.reply("/link/token/create", REPLY)
    token = plaid_client.link_token_create(
        client_user_id="3f1c-uuid", webhook="https://money.example.com/plaid/webhook/"
    )
    assert token.link_token == REPLY["link_token"]
    assert token.expiration == datetime(2030, 1, 1, 4, 0, tzinfo=UTC)
    assert token.request_id == "req-link"
    assert REPLY["link_token"] not in repr(token)
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
    stub_plaid.reply("/link/token/create", REPLY)
    plaid_client.link_token_create(client_user_id="u1", access_token="access-sandbox-secret")
    body = stub_plaid.requests[0][2]
    assert body["access_token"] == "access-sandbox-secret"
    assert "products" not in body
    assert "update" not in body
    assert "webhook" not in body


def test_update_mode_with_account_selection(stub_plaid, link_settings):
    stub_plaid.reply("/link/token/create", REPLY)
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
