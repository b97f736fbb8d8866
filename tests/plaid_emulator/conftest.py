"""Fixtures for the Plaid emulator tests: a running emulator and a plaid-python client.

Plain pytest (no Django needed).
"""

from __future__ import annotations

import copy
import http.client
import json
from collections.abc import Iterator
from typing import Any

import plaid
import pytest
from plaid.api import plaid_api
from plaid.model.item_public_token_exchange_request import ItemPublicTokenExchangeRequest
from plaid.model.products import Products
from plaid.model.sandbox_public_token_create_request import SandboxPublicTokenCreateRequest
from plaid.model.sandbox_public_token_create_request_options import (
    SandboxPublicTokenCreateRequestOptions,
)
from plaid.model_utils import validate_and_convert_types

from plaid_emulator import DEFAULT_CLIENT_ID, DEFAULT_SECRET, EmulatorServer, start_emulator

CREDS = {"PLAID-CLIENT-ID": DEFAULT_CLIENT_ID, "PLAID-SECRET": DEFAULT_SECRET}


def pytest_configure(config: pytest.Config) -> None:
    """Register this suite's markers (the project runs with --strict-markers)."""
    config.addinivalue_line("markers", "slow: slower emulator tests (restarts, latency)")
    config.addinivalue_line("markers", "browser: tests that drive the machine's headless Chromium")


@pytest.fixture
def emu() -> Iterator[EmulatorServer]:
    """Run a frozen, in-memory emulator on a free port."""
    server = start_emulator(port=0, freeze=True)
    try:
        yield server
    finally:
        server.stop()


def make_client(url: str) -> plaid_api.PlaidApi:
    """Return a plaid-python client pointed at ``url``."""
    cfg = plaid.Configuration(
        host=url, api_key={"clientId": DEFAULT_CLIENT_ID, "secret": DEFAULT_SECRET}
    )
    return plaid_api.PlaidApi(plaid.ApiClient(cfg))


@pytest.fixture
def client(emu: EmulatorServer) -> plaid_api.PlaidApi:
    """Return a plaid-python client for the ``emu`` fixture."""
    return make_client(emu.url)


def validate(body: dict[str, Any], model: type) -> Any:
    """Validate a raw reply dict against a plaid-python model (strict, like the SDK)."""
    return validate_and_convert_types(
        copy.deepcopy(body),
        (model,),
        ["received_data"],
        True,
        True,
        configuration=plaid.Configuration(),
    )


def raw_post(
    url: str,
    path: str,
    body: dict[str, Any] | bytes | None = None,
    headers: dict[str, str] | None = None,
    method: str = "POST",
) -> tuple[int, dict[str, Any]]:
    """POST (or ``method``) to the emulator with http.client; return (status, JSON)."""
    host, port = url.removeprefix("http://").rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    data = body if isinstance(body, bytes) else json.dumps(body or {}).encode()
    hdrs = {"Content-Type": "application/json", **(CREDS if headers is None else headers)}
    conn.request(method, path, body=data, headers=hdrs)
    resp = conn.getresponse()
    payload = resp.read()
    conn.close()
    return resp.status, json.loads(payload)


def link_item(
    client: plaid_api.PlaidApi,
    institution_id: str = "ins_109508",
    **options: Any,
) -> tuple[str, str]:
    """Create a sandbox Item through the SDK; return (access_token, item_id)."""
    kwargs: dict[str, Any] = {
        "institution_id": institution_id,
        "initial_products": [Products("transactions")],
    }
    if options:
        kwargs["options"] = SandboxPublicTokenCreateRequestOptions(**options)
    pt = client.sandbox_public_token_create(SandboxPublicTokenCreateRequest(**kwargs))
    ex = client.item_public_token_exchange(
        ItemPublicTokenExchangeRequest(public_token=pt.public_token)
    )
    return ex.access_token, ex.item_id


def api_error(exc: plaid.ApiException) -> dict[str, Any]:
    """Return the Plaid error object of an SDK exception."""
    body: dict[str, Any] = json.loads(exc.body)
    return body
