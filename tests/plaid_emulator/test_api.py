"""Every endpoint's replies (success and error) through plaid-python 46 itself."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import plaid
import pytest
from plaid.api import plaid_api
from plaid.model.accounts_balance_get_request import AccountsBalanceGetRequest
from plaid.model.accounts_balance_get_request_options import AccountsBalanceGetRequestOptions
from plaid.model.accounts_get_request import AccountsGetRequest
from plaid.model.accounts_get_response import AccountsGetResponse
from plaid.model.country_code import CountryCode
from plaid.model.institutions_get_by_id_request import InstitutionsGetByIdRequest
from plaid.model.institutions_get_by_id_response import InstitutionsGetByIdResponse
from plaid.model.institutions_search_request import InstitutionsSearchRequest
from plaid.model.institutions_search_response import InstitutionsSearchResponse
from plaid.model.item_get_request import ItemGetRequest
from plaid.model.item_get_response import ItemGetResponse
from plaid.model.item_public_token_exchange_request import ItemPublicTokenExchangeRequest
from plaid.model.item_public_token_exchange_response import ItemPublicTokenExchangeResponse
from plaid.model.item_remove_request import ItemRemoveRequest
from plaid.model.item_remove_response import ItemRemoveResponse
from plaid.model.item_webhook_update_request import ItemWebhookUpdateRequest
from plaid.model.item_webhook_update_response import ItemWebhookUpdateResponse
from plaid.model.link_token_create_request import LinkTokenCreateRequest
from plaid.model.link_token_create_request_update import LinkTokenCreateRequestUpdate
from plaid.model.link_token_create_request_user import LinkTokenCreateRequestUser
from plaid.model.link_token_create_response import LinkTokenCreateResponse
from plaid.model.plaid_error import PlaidError
from plaid.model.products import Products
from plaid.model.sandbox_item_fire_webhook_request import SandboxItemFireWebhookRequest
from plaid.model.sandbox_item_fire_webhook_response import SandboxItemFireWebhookResponse
from plaid.model.sandbox_item_reset_login_request import SandboxItemResetLoginRequest
from plaid.model.sandbox_item_reset_login_response import SandboxItemResetLoginResponse
from plaid.model.sandbox_public_token_create_request import SandboxPublicTokenCreateRequest
from plaid.model.sandbox_public_token_create_response import SandboxPublicTokenCreateResponse
from plaid.model.webhook_verification_key_get_response import WebhookVerificationKeyGetResponse

from plaid_emulator import EmulatorServer

from .conftest import api_error, link_item, make_client, raw_post, validate

EXAMPLE = json.loads((Path(__file__).parent / "data" / "retrieve-balance-example.json").read_text())
US = [CountryCode("US")]


def expect_error(fn: Any, status: int, error_type: str, error_code: str) -> dict[str, Any]:
    """Call ``fn``; assert the SDK raised Plaid's error; return the error object."""
    with pytest.raises(plaid.ApiException) as info:
        fn()
    assert info.value.status == status
    err = api_error(info.value)
    assert (err["error_type"], err["error_code"]) == (error_type, error_code)
    assert err["request_id"]
    validate(err, PlaidError)
    return err


def sandbox_token(emu: EmulatorServer, institution_id: str = "ins_109508", **opts: Any) -> str:
    """Return a fresh public token via a raw call."""
    body: dict[str, Any] = {"institution_id": institution_id, "initial_products": ["transactions"]}
    if opts:
        body["options"] = opts
    status, reply = raw_post(emu.url, "/sandbox/public_token/create", body)
    assert status == 200, reply
    validate(reply, SandboxPublicTokenCreateResponse)
    token: str = reply["public_token"]
    return token


def test_ins3_matches_the_example_exactly(emu: EmulatorServer, client: plaid_api.PlaidApi) -> None:
    access_token, item_id = link_item(client, "ins_3")
    reply = client.accounts_balance_get(AccountsBalanceGetRequest(access_token=access_token))
    expected = EXAMPLE["response"]["accounts"]
    assert len(reply.accounts) == 5
    for got, want in zip(reply.accounts, expected, strict=True):
        for key in ("name", "official_name", "mask"):
            assert got[key] == want[key]
        assert str(got.type) == want["type"] and str(got.subtype) == want["subtype"]
        for key, value in want["balances"].items():
            assert got.balances[key] == value, (want["name"], key)
        assert len(got.account_id) == 37
    assert reply.item.item_id == item_id and reply.item.institution_id == "ins_3"
    types = {a.account_id: str(a.type) for a in reply.accounts}
    net = sum(
        (-a.balances.current if types[a.account_id] in ("credit", "loan") else a.balances.current)
        for a in reply.accounts
    )
    assert net == pytest.approx(44110.00)
    inst = client.institutions_get_by_id(InstitutionsGetByIdRequest("ins_3", US))
    assert inst.institution.name == "Chase"


def test_raw_replies_pass_strict_validation(emu: EmulatorServer) -> None:
    public = sandbox_token(emu, "ins_3", webhook="http://127.0.0.1:9/hook")
    status, ex = raw_post(emu.url, "/item/public_token/exchange", {"public_token": public})
    assert status == 200
    validate(ex, ItemPublicTokenExchangeResponse)
    assert ex["access_token"].startswith("access-sandbox-")
    assert public.startswith("public-sandbox-")
    at = {"access_token": ex["access_token"]}
    for path, model in (
        ("/accounts/balance/get", AccountsGetResponse),
        ("/accounts/get", AccountsGetResponse),
        ("/item/get", ItemGetResponse),
        ("/sandbox/item/fire_webhook", SandboxItemFireWebhookResponse),
        ("/sandbox/item/reset_login", SandboxItemResetLoginResponse),
        ("/item/get", ItemGetResponse),
    ):
        status, reply = raw_post(emu.url, path, at)
        assert status == 200, (path, reply)
        validate(reply, model)
    status, reply = raw_post(
        emu.url, "/item/webhook/update", {**at, "webhook": "http://127.0.0.1:9/y"}
    )
    validate(reply, ItemWebhookUpdateResponse)
    for path, body, model in (
        (
            "/institutions/get_by_id",
            {"institution_id": "ins_43", "country_codes": ["CA"]},
            InstitutionsGetByIdResponse,
        ),
        (
            "/institutions/search",
            {"query": "platypus", "country_codes": ["US"]},
            InstitutionsSearchResponse,
        ),
        (
            "/link/token/create",
            {
                "client_name": "t",
                "language": "en",
                "country_codes": ["US"],
                "user": {"client_user_id": "u1"},
                "products": ["transactions"],
            },
            LinkTokenCreateResponse,
        ),
    ):
        status, reply = raw_post(emu.url, path, body)
        assert status == 200, reply
        validate(reply, model)
    status, reply = raw_post(emu.url, "/item/remove", at)
    validate(reply, ItemRemoveResponse)
    kid = emu.emulator.signer.kid
    status, reply = raw_post(emu.url, "/webhook_verification_key/get", {"key_id": kid})
    validate(reply, WebhookVerificationKeyGetResponse)


def test_credentials_in_body_are_accepted(emu: EmulatorServer) -> None:
    status, reply = raw_post(
        emu.url,
        "/institutions/search",
        {
            "client_id": "emulator-client-id",
            "secret": "emulator-secret",
            "query": "chase",
            "country_codes": ["US"],
        },
        headers={},
    )
    assert status == 200 and reply["institutions"][0]["institution_id"] == "ins_3"


@pytest.mark.parametrize(
    ("path", "body", "headers", "status", "etype", "code"),
    [
        ("/nope", {}, None, 404, "INVALID_REQUEST", "NOT_FOUND"),
        ("/accounts/get", b"{not json", None, 400, "INVALID_REQUEST", "INVALID_BODY"),
        ("/accounts/get", {"access_token": "x"}, {}, 400, "INVALID_REQUEST", "MISSING_FIELDS"),
        (
            "/accounts/get",
            {"access_token": "x"},
            {"PLAID-CLIENT-ID": "emulator-client-id", "PLAID-SECRET": "wrong"},
            400,
            "INVALID_INPUT",
            "INVALID_API_KEYS",
        ),
        ("/accounts/get", {}, None, 400, "INVALID_REQUEST", "MISSING_FIELDS"),
        (
            "/accounts/get",
            {"access_token": "bogus"},
            None,
            400,
            "INVALID_INPUT",
            "INVALID_ACCESS_TOKEN",
        ),
        (
            "/link/token/create",
            {"client_name": "x"},
            None,
            400,
            "INVALID_REQUEST",
            "MISSING_FIELDS",
        ),
        (
            "/institutions/get_by_id",
            {"institution_id": "ins_0", "country_codes": ["US"]},
            None,
            400,
            "INVALID_INPUT",
            "INVALID_INSTITUTION",
        ),
        (
            "/item/public_token/exchange",
            {"public_token": "public-sandbox-nope"},
            None,
            400,
            "INVALID_INPUT",
            "INVALID_PUBLIC_TOKEN",
        ),
        (
            "/webhook_verification_key/get",
            {"key_id": "nope"},
            None,
            400,
            "INVALID_INPUT",
            "INVALID_WEBHOOK_VERIFICATION_KEY_ID",
        ),
    ],
)
def test_raw_errors(
    emu: EmulatorServer,
    path: str,
    body: Any,
    headers: dict[str, str] | None,
    status: int,
    etype: str,
    code: str,
) -> None:
    got_status, reply = raw_post(emu.url, path, body, headers=headers)
    assert got_status == status
    assert (reply["error_type"], reply["error_code"]) == (etype, code)
    assert reply["request_id"] and reply["status"] == status
    validate(reply, PlaidError)


def test_sdk_errors(emu: EmulatorServer, client: plaid_api.PlaidApi) -> None:
    bad = make_client(emu.url)
    bad.api_client.configuration.api_key["secret"] = "wrong"
    expect_error(
        lambda: bad.institutions_search(InstitutionsSearchRequest("x", US)),
        400,
        "INVALID_INPUT",
        "INVALID_API_KEYS",
    )
    expect_error(
        lambda: client.accounts_get(AccountsGetRequest(access_token="access-sandbox-nope")),
        400,
        "INVALID_INPUT",
        "INVALID_ACCESS_TOKEN",
    )
    access_token, _ = link_item(client)
    client.item_remove(ItemRemoveRequest(access_token=access_token))
    for call in (
        lambda: client.accounts_balance_get(AccountsBalanceGetRequest(access_token=access_token)),
        lambda: client.item_get(ItemGetRequest(access_token=access_token)),
        lambda: client.item_remove(ItemRemoveRequest(access_token=access_token)),
    ):
        expect_error(call, 400, "ITEM_ERROR", "ITEM_NOT_FOUND")
    expect_error(
        lambda: client.sandbox_public_token_create(
            SandboxPublicTokenCreateRequest("ins_0", [Products("transactions")])
        ),
        400,
        "INVALID_INPUT",
        "INVALID_INSTITUTION",
    )


def test_public_token_single_use_and_expiry(
    emu: EmulatorServer, client: plaid_api.PlaidApi
) -> None:
    public = sandbox_token(emu)
    client.item_public_token_exchange(ItemPublicTokenExchangeRequest(public_token=public))
    expect_error(
        lambda: client.item_public_token_exchange(
            ItemPublicTokenExchangeRequest(public_token=public)
        ),
        400,
        "INVALID_INPUT",
        "INVALID_PUBLIC_TOKEN",
    )
    stale = sandbox_token(emu)
    raw_post(emu.url, "/emulator/clock", {"advance_seconds": 31 * 60})
    expect_error(
        lambda: client.item_public_token_exchange(
            ItemPublicTokenExchangeRequest(public_token=stale)
        ),
        400,
        "INVALID_INPUT",
        "INVALID_PUBLIC_TOKEN",
    )


def test_link_token_create_and_update_mode(emu: EmulatorServer, client: plaid_api.PlaidApi) -> None:
    user = LinkTokenCreateRequestUser(client_user_id="user-1")
    made = client.link_token_create(
        LinkTokenCreateRequest(
            client_name="Finance",
            language="en",
            country_codes=US,
            user=user,
            products=[Products("transactions")],
            webhook="http://127.0.0.1:9/hook",
        )
    )
    assert made.link_token.startswith("link-sandbox-")
    hours = (made.expiration - dt.datetime.now(dt.UTC)).total_seconds() / 3600
    assert 3.9 < hours <= 4.0
    lt = emu.state.link_tokens[made.link_token]
    assert (lt.client_user_id, lt.webhook, lt.item_id) == (
        "user-1",
        "http://127.0.0.1:9/hook",
        None,
    )
    access_token, item_id = link_item(client)
    upd = client.link_token_create(
        LinkTokenCreateRequest(
            client_name="Finance",
            language="en",
            country_codes=US,
            user=user,
            access_token=access_token,
            update=LinkTokenCreateRequestUpdate(account_selection_enabled=True),
        )
    )
    lt = emu.state.link_tokens[upd.link_token]
    assert lt.item_id == item_id and lt.account_selection_enabled
    expect_error(
        lambda: client.link_token_create(
            LinkTokenCreateRequest(client_name="F", language="en", country_codes=US, user=user)
        ),
        400,
        "INVALID_REQUEST",
        "MISSING_FIELDS",
    )


def test_institutions(client: plaid_api.PlaidApi) -> None:
    found = client.institutions_search(InstitutionsSearchRequest("platypus", US))
    ids = {i.institution_id for i in found.institutions}
    assert {"ins_109508", "ins_127287"} <= ids
    for ins in ("ins_109508", "ins_109509", "ins_109510", "ins_109511", "ins_109512", "ins_127287"):
        assert client.institutions_get_by_id(InstitutionsGetByIdRequest(ins, US)).institution
    canada = client.institutions_get_by_id(
        InstitutionsGetByIdRequest("ins_43", [CountryCode("CA")])
    )
    assert canada.institution.name == "Tartan-Dominion Bank of Canada"


def test_default_twelve_cad_and_crypto(client: plaid_api.PlaidApi) -> None:
    at, _ = link_item(client, "ins_109508")
    accounts = client.accounts_get(AccountsGetRequest(access_token=at)).accounts
    assert [a.mask for a in accounts] == [
        "0000",
        "1111",
        "2222",
        "3333",
        "4444",
        "5555",
        "6666",
        "7777",
        "8888",
        "9001",
        "9002",
        "9999",
    ]
    assert all(a.official_name for a in accounts)
    biz = accounts[-1].balances
    assert (biz.available, biz.current, biz.limit) == (4980, 5020, 10000)
    at, _ = link_item(client, "ins_43")
    cad = client.accounts_get(AccountsGetRequest(access_token=at)).accounts
    assert {a.balances.iso_currency_code for a in cad} == {"CAD"}
    at, _ = link_item(client, "ins_900001")
    crypto = client.accounts_balance_get(AccountsBalanceGetRequest(access_token=at)).accounts
    btc = [a for a in crypto if a.balances.unofficial_currency_code == "BTC"]
    assert btc and btc[0].balances.iso_currency_code is None


def test_custom_user_and_bad_credentials(client: plaid_api.PlaidApi) -> None:
    config = {
        "override_accounts": [
            {
                "type": "depository",
                "subtype": "checking",
                "starting_balance": 100,
                "meta": {"name": "My Checking", "official_name": "Custom Checking", "mask": "1234"},
                "currency": "USD",
            },
            {
                "type": "credit",
                "subtype": "credit card",
                "starting_balance": 250,
                "meta": {"name": "My Card", "mask": "4321", "limit": 1000},
            },
            {
                "type": "other",
                "subtype": "crypto exchange",
                "starting_balance": 1.5,
                "currency": "BTC",
                "meta": {"name": "Coins"},
            },
        ]
    }
    at, _ = link_item(client, override_username="user_custom", override_password=json.dumps(config))
    accounts = client.accounts_balance_get(AccountsBalanceGetRequest(access_token=at)).accounts
    assert [(a.name, a.mask) for a in accounts][:2] == [
        ("My Checking", "1234"),
        ("My Card", "4321"),
    ]
    assert accounts[1].balances.limit == 1000 and accounts[1].balances.available == 750
    assert accounts[2].balances.unofficial_currency_code == "BTC"
    for user, password in (("user_bad", "pass_good"), ("user_good", "wrong")):
        expect_error(
            lambda u=user, p=password: link_item(client, override_username=u, override_password=p),
            400,
            "ITEM_ERROR",
            "INVALID_CREDENTIALS",
        )


def test_balance_options(client: plaid_api.PlaidApi) -> None:
    at, _ = link_item(client)
    first = client.accounts_get(AccountsGetRequest(access_token=at)).accounts[0].account_id
    now = dt.datetime.now(dt.UTC)
    reply = client.accounts_balance_get(
        AccountsBalanceGetRequest(
            access_token=at,
            options=AccountsBalanceGetRequestOptions(
                account_ids=[first], min_last_updated_datetime=now - dt.timedelta(minutes=5)
            ),
        )
    )
    assert [a.account_id for a in reply.accounts] == [first]
    assert reply.accounts[0].balances.last_updated_datetime is not None
    expect_error(
        lambda: client.accounts_balance_get(
            AccountsBalanceGetRequest(
                access_token=at,
                options=AccountsBalanceGetRequestOptions(
                    min_last_updated_datetime=now + dt.timedelta(hours=1)
                ),
            )
        ),
        400,
        "INVALID_RESULT",
        "LAST_UPDATED_DATETIME_OUT_OF_RANGE",
    )


def test_reset_login_and_item_state(emu: EmulatorServer, client: plaid_api.PlaidApi) -> None:
    at, item_id = link_item(client)
    assert client.sandbox_item_reset_login(
        SandboxItemResetLoginRequest(access_token=at)
    ).reset_login
    expect_error(
        lambda: client.accounts_balance_get(AccountsBalanceGetRequest(access_token=at)),
        400,
        "ITEM_ERROR",
        "ITEM_LOGIN_REQUIRED",
    )
    item = client.item_get(ItemGetRequest(access_token=at)).item
    assert item.error.error_code == "ITEM_LOGIN_REQUIRED"
    updated = client.item_webhook_update(
        ItemWebhookUpdateRequest(access_token=at, webhook="http://127.0.0.1:9/new")
    )
    assert updated.item.webhook == "http://127.0.0.1:9/new"
    fired = client.sandbox_item_fire_webhook(
        SandboxItemFireWebhookRequest(access_token=at, webhook_code="NEW_ACCOUNTS_AVAILABLE")
    )
    assert fired.webhook_fired
    assert emu.state.items[item_id].new_accounts


def test_control_endpoint_needs_credentials(emu: EmulatorServer) -> None:
    status, reply = raw_post(emu.url, "/emulator/stats", None, headers={}, method="GET")
    assert status == 400 and reply["error_code"] == "MISSING_FIELDS"
    raw_post(emu.url, "/institutions/search", {"query": "x", "country_codes": ["US"]})
    status, reply = raw_post(emu.url, "/emulator/stats", None, method="GET")
    assert status == 200 and reply["requests"]["/institutions/search"] == 1
    status, reply = raw_post(emu.url, "/emulator/reset", {})
    assert status == 200 and reply["reset"] is True
