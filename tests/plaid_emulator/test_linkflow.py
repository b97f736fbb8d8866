"""The Link stand-in's OAuth redirect flow, over HTTP: a link token with a redirect_uri, the
trip to the OAuth institution's page, the way back, and Link resuming with
receivedRedirectUri. (In the browser: tests/e2e/test_link_browser.py.)"""

from __future__ import annotations

import http.client
from typing import Any
from urllib.parse import urlencode, urlsplit

import pytest
from plaid.api import plaid_api
from plaid.model.country_code import CountryCode
from plaid.model.item_public_token_exchange_request import ItemPublicTokenExchangeRequest
from plaid.model.link_token_create_request import LinkTokenCreateRequest
from plaid.model.link_token_create_request_user import LinkTokenCreateRequestUser
from plaid.model.products import Products

from plaid_emulator import EmulatorServer
from tests.plaid_emulator.conftest import raw_post

REDIRECT = "https://money.example.com/link/oauth-return/"


def link_token(client: plaid_api.PlaidApi, **extra: Any) -> str:
    token: str = client.link_token_create(
        LinkTokenCreateRequest(
            client_name="Finance",
            language="en",
            country_codes=[CountryCode("US")],
            user=LinkTokenCreateRequestUser(client_user_id="u1"),
            products=[Products("transactions")],
            **extra,
        )
    ).link_token
    return token


def step(emu: EmulatorServer, name: str, **body: Any) -> tuple[int, dict[str, Any]]:
    return raw_post(emu.url, f"/link/api/{name}", body, headers={})


def browse(
    emu: EmulatorServer, method: str, path: str, form: dict[str, str] | None = None
) -> tuple[int, dict[str, str], str]:
    """A browser's plain request (no JSON): return (status, headers, body)."""
    host, port = emu.url.removeprefix("http://").rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    data = urlencode(form).encode() if form is not None else None
    headers = {"Content-Type": "application/x-www-form-urlencoded"} if form else {}
    conn.request(method, path, body=data, headers=headers)
    resp = conn.getresponse()
    payload = resp.read()
    conn.close()
    return resp.status, dict(resp.getheaders()), payload.decode()


def leave_for_the_bank(emu: EmulatorServer, token: str, institution_id: str = "ins_127287"):
    """Open Link, pick the OAuth institution; return (session id, bank page path)."""
    status, session = step(emu, "session", link_token=token)
    assert status == 200
    status, reply = step(
        emu,
        "oauth",
        link_token=token,
        link_session_id=session["link_session_id"],
        institution_id=institution_id,
    )
    assert status == 200, reply
    return session["link_session_id"], reply["oauth_url"]


def come_back(emu: EmulatorServer, bank_path: str) -> str:
    """Allow access at the bank's page; return where the bank sends the browser."""
    status, headers, page = browse(emu, "GET", bank_path)
    assert status == 200
    assert "Platypus OAuth Bank" in page
    assert "<script" not in page
    assert "script-src" not in headers["Content-Security-Policy"]
    state_id = bank_path.split("oauth_state_id=", 1)[1]
    status, headers, _ = browse(emu, "POST", "/link/oauth/authorize", {"oauth_state_id": state_id})
    assert status == 303
    return headers["Location"]


def test_oauth_round_trip_resumes_the_same_link_session(
    emu: EmulatorServer, client: plaid_api.PlaidApi
) -> None:
    token = link_token(client, redirect_uri=REDIRECT)
    assert emu.state.link_tokens[token].redirect_uri == REDIRECT
    status, session = step(emu, "session", link_token=token)
    assert session["redirect"] is True
    oauth = {i["institution_id"]: i["oauth"] for i in session["institutions"]}
    assert oauth["ins_127287"] is True and oauth["ins_109508"] is False

    session_id, bank_path = leave_for_the_bank(emu, token)
    back = come_back(emu, bank_path)
    assert back.startswith(REDIRECT + "?oauth_state_id=")

    status, resumed = step(emu, "session", link_token=token, received_redirect_uri=back)
    assert status == 200, resumed
    assert (resumed["mode"], resumed["link_session_id"]) == ("oauth_resume", session_id)
    assert resumed["institution"]["institution_id"] == "ins_127287"
    ids = [a["id"] for a in resumed["accounts"]]
    assert len(ids) == 12
    status, done = step(
        emu, "finish", link_token=token, link_session_id=session_id, account_ids=ids[:2]
    )
    assert status == 200, done
    assert done["metadata"]["institution"]["institution_id"] == "ins_127287"
    exchanged = client.item_public_token_exchange(
        ItemPublicTokenExchangeRequest(public_token=done["public_token"])
    )
    assert len(emu.state.items[exchanged.item_id].accounts) == 2
    # The trip is over: the same return resumes nothing.
    status, again = step(emu, "session", link_token=token, received_redirect_uri=back)
    assert (status, again["error_code"]) == (400, "INVALID_FIELD")


def test_resume_refuses_what_this_link_did_not_start(
    emu: EmulatorServer, client: plaid_api.PlaidApi
) -> None:
    token = link_token(client, redirect_uri=REDIRECT)
    other = link_token(client, redirect_uri=REDIRECT)
    _, bank_path = leave_for_the_bank(emu, token)
    state_id = bank_path.split("oauth_state_id=", 1)[1]
    unauthorized = f"{REDIRECT}?oauth_state_id={state_id}"
    back = come_back(emu, bank_path)
    for tok, uri in [
        (token, unauthorized.replace(state_id, "made-up")),
        (other, back),  # another link token's trip
        (token, back.replace("money.example.com", "evil.example.com")),
        (token, REDIRECT),
    ]:
        status, reply = step(emu, "session", link_token=tok, received_redirect_uri=uri)
        assert (status, reply["error_code"]) == (400, "INVALID_FIELD"), uri
        assert reply["display_message"]


def test_resume_before_the_bank_allowed_access_is_refused(
    emu: EmulatorServer, client: plaid_api.PlaidApi
) -> None:
    token = link_token(client, redirect_uri=REDIRECT)
    _, bank_path = leave_for_the_bank(emu, token)
    uri = REDIRECT + "?" + urlsplit(bank_path).query
    status, reply = step(emu, "session", link_token=token, received_redirect_uri=uri)
    assert (status, reply["error_code"]) == (400, "INVALID_FIELD")


def test_no_oauth_trip_without_a_redirect_uri_or_to_a_non_oauth_bank(
    emu: EmulatorServer, client: plaid_api.PlaidApi
) -> None:
    plain = link_token(client)
    status, session = step(emu, "session", link_token=plain)
    assert session["redirect"] is False
    status, reply = step(
        emu,
        "oauth",
        link_token=plain,
        link_session_id=session["link_session_id"],
        institution_id="ins_127287",
    )
    assert (status, reply["error_code"]) == (400, "INVALID_FIELD")
    token = link_token(client, redirect_uri=REDIRECT)
    status, session = step(emu, "session", link_token=token)
    status, reply = step(
        emu,
        "oauth",
        link_token=token,
        link_session_id=session["link_session_id"],
        institution_id="ins_109508",
    )
    assert (status, reply["error_code"]) == (400, "INVALID_FIELD")


@pytest.mark.parametrize(
    "uri",
    [
        "ftp://money.example.com/x",
        "https://money.example.com/x?next=/",
        "https://money.example.com/x#f",
        "https://money.example.com/x\r\nSet-Cookie: a=b",
        "/relative/",
    ],
)
def test_link_token_refuses_a_bad_redirect_uri(emu: EmulatorServer, uri: str) -> None:
    body = {
        "client_name": "F",
        "language": "en",
        "country_codes": ["US"],
        "user": {"client_user_id": "u1"},
        "products": ["transactions"],
        "redirect_uri": uri,
    }
    status, reply = raw_post(emu.url, "/link/token/create", body)
    assert (status, reply["error_code"]) == (400, "INVALID_FIELD")


def test_bank_page_for_an_unknown_state_is_an_error(emu: EmulatorServer) -> None:
    status, _, _ = browse(emu, "GET", "/link/oauth?oauth_state_id=nope")
    assert status == 400
    status, _, _ = browse(emu, "POST", "/link/oauth/authorize", {"oauth_state_id": "nope"})
    assert status == 400
