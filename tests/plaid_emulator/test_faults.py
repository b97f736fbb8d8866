"""Faults, rate limits, latency and broken replies, seen through plaid-python."""

from __future__ import annotations

import threading
import time

import plaid
import pytest
from plaid.api import plaid_api
from plaid.model.accounts_balance_get_request import AccountsBalanceGetRequest
from plaid.model.accounts_get_request import AccountsGetRequest
from plaid.model.item_get_request import ItemGetRequest

from plaid_emulator import EmulatorServer

from .conftest import api_error, link_item, make_client, raw_post


def balance(client: plaid_api.PlaidApi, at: str) -> object:
    return client.accounts_balance_get(AccountsBalanceGetRequest(access_token=at))


@pytest.mark.parametrize(
    ("code", "status", "etype"),
    [
        ("ITEM_LOGIN_REQUIRED", 400, "ITEM_ERROR"),
        ("INSTITUTION_DOWN", 400, "INSTITUTION_ERROR"),
        ("INSTITUTION_NOT_RESPONDING", 400, "INSTITUTION_ERROR"),
        ("RATE_LIMIT_EXCEEDED", 429, "RATE_LIMIT_EXCEEDED"),
        ("INTERNAL_SERVER_ERROR", 500, "API_ERROR"),
        ("PLANNED_MAINTENANCE", 503, "API_ERROR"),
    ],
)
def test_injected_errors_with_count(
    emu: EmulatorServer, client: plaid_api.PlaidApi, code: str, status: int, etype: str
) -> None:
    at, item_id = link_item(client)
    got, reply = raw_post(
        emu.url,
        "/emulator/faults",
        {"item_id": item_id, "error_code": code, "count": 2, "endpoint": "/accounts/balance/get"},
    )
    assert got == 200, reply
    client.item_get(ItemGetRequest(access_token=at))  # other endpoints unaffected
    for _ in range(2):
        with pytest.raises(plaid.ApiException) as info:
            balance(client, at)
        assert info.value.status == status
        err = api_error(info.value)
        assert (err["error_type"], err["error_code"]) == (etype, code)
    balance(client, at)  # count used up: the fault cleared itself


def test_global_fault_and_delete(emu: EmulatorServer, client: plaid_api.PlaidApi) -> None:
    at, _ = link_item(client)
    raw_post(emu.url, "/emulator/faults", {"error_code": "INSTITUTION_DOWN"})
    for _ in range(3):
        with pytest.raises(plaid.ApiException):
            client.accounts_get(AccountsGetRequest(access_token=at))
    status, reply = raw_post(emu.url, "/emulator/faults", {}, method="DELETE")
    assert status == 200 and reply["removed"] == 1
    client.accounts_get(AccountsGetRequest(access_token=at))


def test_malformed_reply_makes_the_sdk_raise(
    emu: EmulatorServer, client: plaid_api.PlaidApi
) -> None:
    at, _ = link_item(client)
    raw_post(emu.url, "/emulator/faults", {"error_code": "MALFORMED", "count": 1})
    # A 200 missing a required key: plaid-python raises a bare TypeError (not ApiException).
    with pytest.raises(TypeError):
        balance(client, at)
    balance(client, at)


def test_truncated_reply_makes_the_sdk_raise(
    emu: EmulatorServer, client: plaid_api.PlaidApi
) -> None:
    at, _ = link_item(client)
    raw_post(emu.url, "/emulator/faults", {"error_code": "TRUNCATED", "count": 1})
    # A 200 cut off mid-JSON: the SDK keeps the raw string and fails type checks.
    with pytest.raises(plaid.ApiTypeError):
        balance(client, at)
    balance(client, at)


def test_rate_limits_per_item_and_client(emu: EmulatorServer, client: plaid_api.PlaidApi) -> None:
    at, _ = link_item(client)
    raw_post(emu.url, "/emulator/rate-limits", {"mode": "production"})
    for _ in range(5):
        balance(client, at)
    with pytest.raises(plaid.ApiException) as info:
        balance(client, at)
    assert info.value.status == 429
    assert api_error(info.value)["error_code"] == "BALANCE_LIMIT"
    raw_post(emu.url, "/emulator/clock", {"advance_seconds": 60})
    balance(client, at)  # new minute window
    raw_post(emu.url, "/emulator/rate-limits", {"mode": "sandbox"})
    # 225 calls (25 per Item, the sandbox's per-Item limit): however the burst falls across
    # a one-minute window boundary, one window sees more than the client's 100.
    other = [link_item(client)[0] for _ in range(9)]
    codes = set()
    for token in other:
        for _ in range(25):
            try:
                balance(client, token)
            except plaid.ApiException as exc:
                codes.add(api_error(exc)["error_code"])
    assert "ACCOUNTS_BALANCE_GET_LIMIT" in codes  # 100 per client per minute in sandbox


@pytest.mark.slow
def test_fixed_latency_does_not_block_others(
    emu: EmulatorServer, client: plaid_api.PlaidApi
) -> None:
    at, _ = link_item(client)
    raw_post(emu.url, "/emulator/latency", {"mode": "fixed", "ms": 300})
    done: dict[str, float] = {}

    def slow_call() -> None:
        balance(client, at)
        done["slow"] = time.monotonic()

    start = time.monotonic()
    slow = threading.Thread(target=slow_call)
    slow.start()
    fast = make_client(emu.url)  # another connection is not held up by the sleeping one
    raw_post(emu.url, "/emulator/stats", None, method="GET")
    done["other"] = time.monotonic()
    slow.join()
    slow_took = done["slow"] - start
    assert slow_took >= 0.29  # loose: the delayed call took at least the 300 ms
    assert done["other"] < done["slow"]  # the control call was not queued behind it
    raw_post(emu.url, "/emulator/latency", {"mode": "off"})
    start = time.monotonic()
    balance(fast, at)
    assert time.monotonic() - start < slow_took


def test_sandbox_error_password(client: plaid_api.PlaidApi) -> None:
    with pytest.raises(plaid.ApiException) as info:
        link_item(client, override_username="user_good", override_password="error_ITEM_LOCKED")
    assert api_error(info.value)["error_code"] == "ITEM_LOCKED"
