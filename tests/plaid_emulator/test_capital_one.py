"""Capital One (ins_128026): /accounts/balance/get needs min_last_updated_datetime for cards,
and a card's balance is as of its last update, hours ago (as Plaid documents)."""

from __future__ import annotations

import datetime as dt

from plaid.api import plaid_api
from plaid.model.accounts_balance_get_request import AccountsBalanceGetRequest
from plaid.model.accounts_balance_get_request_options import AccountsBalanceGetRequestOptions
from plaid.model.accounts_get_request import AccountsGetRequest
from plaid.model.accounts_get_response import AccountsGetResponse

from plaid_emulator import EmulatorServer
from plaid_emulator.institutions import CAPITAL_ONE, CAPITAL_ONE_CARD_LAG_HOURS

from .conftest import link_item, raw_post, validate
from .test_api import expect_error

LAG = dt.timedelta(hours=CAPITAL_ONE_CARD_LAG_HOURS)


def _balance_get(
    client: plaid_api.PlaidApi, access_token: str, **options: object
) -> AccountsGetResponse:
    request = AccountsBalanceGetRequest(access_token=access_token)
    if options:
        request.options = AccountsBalanceGetRequestOptions(**options)
    return client.accounts_balance_get(request)


def _ids_by_type(client: plaid_api.PlaidApi, access_token: str) -> dict[str, str]:
    accounts = client.accounts_get(AccountsGetRequest(access_token=access_token)).accounts
    return {str(a.type): a.account_id for a in accounts}


def test_capital_one_has_a_checking_account_and_a_card_with_a_limit(
    client: plaid_api.PlaidApi,
) -> None:
    at, _ = link_item(client, CAPITAL_ONE)
    accounts = client.accounts_get(AccountsGetRequest(access_token=at)).accounts
    kinds = sorted((str(a.type), str(a.subtype)) for a in accounts)
    assert kinds == [("credit", "credit card"), ("depository", "checking")]
    card = next(a for a in accounts if str(a.type) == "credit")
    assert card.balances.limit == 5000


def test_a_card_without_the_option_is_an_invalid_field(client: plaid_api.PlaidApi) -> None:
    at, _ = link_item(client, CAPITAL_ONE)
    card = _ids_by_type(client, at)["credit"]
    expect_error(lambda: _balance_get(client, at), 400, "INVALID_REQUEST", "INVALID_FIELD")
    expect_error(
        lambda: _balance_get(client, at, account_ids=[card]),
        400,
        "INVALID_REQUEST",
        "INVALID_FIELD",
    )
    # Elsewhere a card needs no option.
    other, _ = link_item(client, "ins_109508")
    assert any(str(a.type) == "credit" for a in _balance_get(client, other).accounts)


def test_checking_alone_needs_no_option(client: plaid_api.PlaidApi) -> None:
    at, _ = link_item(client, CAPITAL_ONE)
    checking = _ids_by_type(client, at)["depository"]
    before = dt.datetime.now(dt.UTC)
    reply = _balance_get(client, at, account_ids=[checking])
    [account] = reply.accounts
    assert account.balances.last_updated_datetime >= before - dt.timedelta(seconds=2)


def test_with_the_option_the_card_is_as_of_hours_ago(
    emu: EmulatorServer, client: plaid_api.PlaidApi
) -> None:
    at, _ = link_item(client, CAPITAL_ONE)
    now = dt.datetime.now(dt.UTC)
    minimum = (now - dt.timedelta(hours=24)).isoformat()
    status, body = raw_post(
        emu.url,
        "/accounts/balance/get",
        {"access_token": at, "options": {"min_last_updated_datetime": minimum}},
    )
    assert status == 200, body
    validate(body, AccountsGetResponse)
    updated = {
        a["type"]: dt.datetime.fromisoformat(a["balances"]["last_updated_datetime"])
        for a in body["accounts"]
    }
    slack = dt.timedelta(minutes=1)
    assert abs(updated["credit"] - (now - LAG)) < slack
    assert abs(updated["depository"] - now) < slack
    card = next(a for a in body["accounts"] if a["type"] == "credit")
    assert (card["balances"]["current"], card["balances"]["limit"]) == (730, 5000)


def test_an_option_newer_than_the_cards_update_is_out_of_range(
    client: plaid_api.PlaidApi,
) -> None:
    at, _ = link_item(client, CAPITAL_ONE)
    newer = dt.datetime.now(dt.UTC) - LAG + dt.timedelta(hours=1)
    expect_error(
        lambda: _balance_get(client, at, min_last_updated_datetime=newer),
        400,
        "INVALID_RESULT",
        "LAST_UPDATED_DATETIME_OUT_OF_RANGE",
    )
    # The checking account alone is real time: the same option is satisfied.
    checking = _ids_by_type(client, at)["depository"]
    reply = _balance_get(client, at, account_ids=[checking], min_last_updated_datetime=newer)
    assert len(reply.accounts) == 1
