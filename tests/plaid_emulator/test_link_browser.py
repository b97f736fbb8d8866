"""Drive the Link stand-in in headless Chromium from a host page on another origin."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from plaid.api import plaid_api
from plaid.model.accounts_balance_get_request import AccountsBalanceGetRequest
from plaid.model.country_code import CountryCode
from plaid.model.item_get_request import ItemGetRequest
from plaid.model.item_public_token_exchange_request import ItemPublicTokenExchangeRequest
from plaid.model.link_token_create_request import LinkTokenCreateRequest
from plaid.model.link_token_create_request_update import LinkTokenCreateRequestUpdate
from plaid.model.link_token_create_request_user import LinkTokenCreateRequestUser
from plaid.model.products import Products
from plaid.model.sandbox_item_fire_webhook_request import SandboxItemFireWebhookRequest
from plaid.model.sandbox_item_reset_login_request import SandboxItemResetLoginRequest

from plaid_emulator import EmulatorServer, start_emulator
from tests.services import CHROMIUM_ARGS, press_link_button, require_chromium

from .conftest import link_item, make_client, raw_post

pytestmark = pytest.mark.browser

HOST_PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>host</title>
<script src="{emulator}/link/v2/stable/link-initialize.js"></script></head>
<body><button id="open">Link a bank</button><script>
window.__events = [];
window.__result = null;
window.startLink = function (token) {{
  window.__result = null;
  var handler = Plaid.create({{
    token: token,
    onSuccess: function (publicToken, metadata) {{
      window.__result = {{kind: "success", publicToken: publicToken, metadata: metadata}};
    }},
    onExit: function (error, metadata) {{
      window.__result = {{kind: "exit", error: error, metadata: metadata}};
    }},
    onEvent: function (name) {{ window.__events.push(name); }},
    onLoad: function () {{ window.__loaded = true; }}
  }});
  handler.open();
}};
</script></body></html>"""


@pytest.fixture(scope="module")
def chromium_path() -> str:
    """Return Chromium's path; skip (or fail under CI) when it is not installed."""
    return require_chromium()


@pytest.fixture(scope="module")
def link_env(chromium_path: str) -> Iterator[tuple[EmulatorServer, str, Any]]:
    """Start an emulator, a host page on another origin, and a headless browser."""
    from playwright.sync_api import sync_playwright

    emu = start_emulator(port=0, freeze=True)
    page_html = HOST_PAGE.format(emulator=emu.url).encode()

    class Host(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(page_html)))
            self.end_headers()
            self.wfile.write(page_html)

        def log_message(self, *args: Any) -> None:
            pass

    host = ThreadingHTTPServer(("127.0.0.1", 0), Host)
    threading.Thread(target=host.serve_forever, daemon=True).start()
    host_url = f"http://localhost:{host.server_address[1]}/"  # other origin than 127.0.0.1
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS)
        try:
            yield emu, host_url, browser
        finally:
            browser.close()
            host.shutdown()
            host.server_close()
            emu.stop()


def link_token(client: plaid_api.PlaidApi, access_token: str | None = None, **update: Any) -> str:
    """Create a link token (update mode when ``access_token`` is given)."""
    kwargs: dict[str, Any] = {
        "client_name": "Finance tests",
        "language": "en",
        "country_codes": [CountryCode("US")],
        "user": LinkTokenCreateRequestUser(client_user_id="browser-user"),
    }
    if access_token:
        kwargs["access_token"] = access_token
        if update:
            kwargs["update"] = LinkTokenCreateRequestUpdate(**update)
    else:
        kwargs["products"] = [Products("transactions")]
    token: str = client.link_token_create(LinkTokenCreateRequest(**kwargs)).link_token
    return token


def open_link(browser: Any, host_url: str, token: str) -> tuple[Any, Any]:
    """Open the host page, start Link; return (page, frame locator)."""
    page = browser.new_page()
    page.set_default_timeout(10_000)
    page.goto(host_url)
    page.wait_for_function("window.Plaid !== undefined")
    page.evaluate("token => window.startLink(token)", token)
    return page, page.frame_locator("#plaid-link-iframe-1")


def result(page: Any) -> dict[str, Any]:
    """Wait for onSuccess/onExit and return what it received."""
    page.wait_for_function("window.__result !== null")
    data: dict[str, Any] = page.evaluate("window.__result")
    return data


def test_link_new_item(link_env: tuple[EmulatorServer, str, Any]) -> None:
    emu, host_url, browser = link_env
    client = make_client(emu.url)
    page, frame = open_link(browser, host_url, link_token(client))
    try:
        frame.get_by_label("Search institutions").fill("platypus")
        frame.get_by_role("button", name="First Platypus Bank").click()
        frame.get_by_label("Username").fill("user_good")
        frame.get_by_label("Password").fill("wrong")
        frame.get_by_role("button", name="Submit").click()
        error = frame.locator("#login-error")
        error.wait_for(state="visible")
        assert "credentials" in error.inner_text().lower()
        frame.get_by_label("Password").fill("pass_good")
        frame.get_by_role("button", name="Submit").click()
        press_link_button(frame.get_by_role("button", name="Continue"))
        got = result(page)
    finally:
        page.close()
    assert got["kind"] == "success"
    meta = got["metadata"]
    assert meta["institution"] == {"name": "First Platypus Bank", "institution_id": "ins_109508"}
    assert len(meta["accounts"]) == 12 and all(a["mask"] for a in meta["accounts"])
    assert meta["accounts"][0]["verification_status"] is None
    assert meta["public_token"] == got["publicToken"] and meta["transfer_status"] is None
    assert meta["link_session_id"]
    ex = client.item_public_token_exchange(
        ItemPublicTokenExchangeRequest(public_token=got["publicToken"])
    )
    balances = client.accounts_balance_get(AccountsBalanceGetRequest(access_token=ex.access_token))
    assert [a.account_id for a in balances.accounts] == [a["id"] for a in meta["accounts"]]


def test_link_close_and_escape_give_on_exit(link_env: tuple[EmulatorServer, str, Any]) -> None:
    emu, host_url, browser = link_env
    client = make_client(emu.url)
    page, frame = open_link(browser, host_url, link_token(client))
    try:
        press_link_button(frame.get_by_role("button", name="Close"))
        got = result(page)
        assert got["kind"] == "exit" and got["error"] is None
        assert page.locator("#plaid-link-iframe-1").count() == 0
        page.evaluate("token => window.startLink(token)", link_token(client))
        frame = page.frame_locator("#plaid-link-iframe-2")
        frame.get_by_role("button", name="Tartan Bank").click()
        # Key down only: Escape's keydown removes the iframe, and the keyup of a full press()
        # would go to the destroyed frame, whose acknowledgement never comes (a hang).
        frame.get_by_label("Username").focus()
        page.keyboard.down("Escape")
        got = result(page)
        assert got["kind"] == "exit"
        assert got["metadata"]["institution"]["institution_id"] == "ins_109511"
        assert "EXIT" in page.evaluate("window.__events")
    finally:
        page.close()


def test_link_update_mode_repairs_item(link_env: tuple[EmulatorServer, str, Any]) -> None:
    emu, host_url, browser = link_env
    client = make_client(emu.url)
    at, item_id = link_item(client, "ins_109508", webhook="http://127.0.0.1:9/hook")
    client.sandbox_item_reset_login(SandboxItemResetLoginRequest(access_token=at))
    client.sandbox_item_fire_webhook(
        SandboxItemFireWebhookRequest(access_token=at, webhook_code="NEW_ACCOUNTS_AVAILABLE")
    )
    assert client.item_get(ItemGetRequest(access_token=at)).item.error is not None
    token = link_token(client, at, account_selection_enabled=True)
    page, frame = open_link(browser, host_url, token)
    try:
        frame.get_by_label("Username").fill("user_good")  # no institution picker
        frame.get_by_label("Password").fill("pass_good")
        frame.get_by_role("button", name="Submit").click()
        new_box = frame.get_by_role("checkbox", name="Plaid New Checking")
        assert new_box.is_enabled() and not new_box.is_checked()
        new_box.check()
        press_link_button(frame.get_by_role("button", name="Continue"))
        got = result(page)
    finally:
        page.close()
    assert got["kind"] == "success"
    assert len(got["metadata"]["accounts"]) == 13
    assert client.item_get(ItemGetRequest(access_token=at)).item.error is None
    ex = client.item_public_token_exchange(
        ItemPublicTokenExchangeRequest(public_token=got["publicToken"])
    )
    assert (ex.access_token, ex.item_id) == (at, item_id)  # same Item, same token
    balances = client.accounts_balance_get(AccountsBalanceGetRequest(access_token=at))
    assert len(balances.accounts) == 13
    status, stats = raw_post(emu.url, "/emulator/stats", None, method="GET")
    assert status == 200 and json.dumps(stats)
