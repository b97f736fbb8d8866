"""Webhooks: delivered to a local receiver, signed with ES256, verifiable with PyJWT."""

from __future__ import annotations

import hashlib
import hmac
import json
import queue
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import jwt
import pytest
from plaid.api import plaid_api
from plaid.model.sandbox_item_fire_webhook_request import SandboxItemFireWebhookRequest
from plaid.model.sandbox_item_reset_login_request import SandboxItemResetLoginRequest
from plaid.model.webhook_verification_key_get_request import WebhookVerificationKeyGetRequest

from plaid_emulator import EmulatorServer, start_emulator
from plaid_emulator.api import cached_as_of
from plaid_emulator.core import transaction_update_times

from .conftest import link_item, make_client, raw_post


@pytest.fixture
def receiver() -> Iterator[tuple[str, queue.Queue[tuple[dict[str, str], bytes]]]]:
    """Run a tiny HTTP server that records each webhook (headers, raw body)."""
    got: queue.Queue[tuple[dict[str, str], bytes]] = queue.Queue()

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            got.put((dict(self.headers), body))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook", got
    server.shutdown()
    server.server_close()


def verify(client: plaid_api.PlaidApi, headers: dict[str, str], body: bytes) -> dict[str, Any]:
    """Verify a webhook the way the app should; return the claims or raise."""
    token = headers["Plaid-Verification"]
    header = jwt.get_unverified_header(token)
    assert header["alg"] == "ES256" and header["typ"] == "JWT"
    key = client.webhook_verification_key_get(
        WebhookVerificationKeyGetRequest(key_id=header["kid"])
    ).key.to_dict()
    assert key["crv"] == "P-256" and key["kty"] == "EC" and key["expired_at"] is None
    public = jwt.algorithms.ECAlgorithm.from_jwk(json.dumps(key))
    claims: dict[str, Any] = jwt.decode(token, key=public, algorithms=["ES256"])
    if claims["iat"] < time.time() - 5 * 60:
        raise ValueError("stale webhook")
    digest = hashlib.sha256(body).hexdigest()
    if not hmac.compare_digest(digest, claims["request_body_sha256"]):
        raise ValueError("body hash mismatch")
    return claims


def test_fire_webhook_is_signed_and_verifies(
    emu: EmulatorServer,
    client: plaid_api.PlaidApi,
    receiver: tuple[str, queue.Queue[tuple[dict[str, str], bytes]]],
) -> None:
    url, got = receiver
    at, item_id = link_item(client, webhook=url)
    client.sandbox_item_fire_webhook(
        SandboxItemFireWebhookRequest(access_token=at, webhook_code="DEFAULT_UPDATE")
    )
    headers, body = got.get(timeout=5)
    payload = json.loads(body)
    assert (payload["webhook_type"], payload["webhook_code"]) == ("TRANSACTIONS", "DEFAULT_UPDATE")
    assert payload["item_id"] == item_id
    verify(client, headers, body)
    with pytest.raises(ValueError, match="mismatch"):
        verify(client, headers, body.replace(b"DEFAULT_UPDATE", b"DEFAULT_UPDATf"))
    # A stale token (iat 10 minutes old) signed by the same key fails the age check.
    stale = emu.emulator.signer.sign(body, iat=int(time.time()) - 600)
    with pytest.raises(ValueError, match="stale"):
        verify(client, {"Plaid-Verification": stale}, body)
    # A token signed by another key fails the signature check.
    forged = headers["Plaid-Verification"][:-4] + "AAAA"
    with pytest.raises(jwt.InvalidSignatureError):
        verify(client, {"Plaid-Verification": forged}, body)


def test_reset_login_sends_item_error(
    client: plaid_api.PlaidApi,
    receiver: tuple[str, queue.Queue[tuple[dict[str, str], bytes]]],
) -> None:
    url, got = receiver
    at, _ = link_item(client, webhook=url)
    client.sandbox_item_reset_login(SandboxItemResetLoginRequest(access_token=at))
    headers, body = got.get(timeout=5)
    payload = json.loads(body)
    assert (payload["webhook_type"], payload["webhook_code"]) == ("ITEM", "ERROR")
    assert payload["error"]["error_code"] == "ITEM_LOGIN_REQUIRED"
    verify(client, headers, body)
    for code in ("NEW_ACCOUNTS_AVAILABLE", "USER_PERMISSION_REVOKED", "LOGIN_REPAIRED"):
        client.sandbox_item_fire_webhook(
            SandboxItemFireWebhookRequest(access_token=at, webhook_code=code)
        )
        assert json.loads(got.get(timeout=5)[1])["webhook_code"] == code


def test_periodic_balance_webhooks(
    receiver: tuple[str, queue.Queue[tuple[dict[str, str], bytes]]],
) -> None:
    url, got = receiver
    emu = start_emulator(port=0, balance_webhook_interval=0.2)
    try:
        client = make_client(emu.url)
        _, item_id = link_item(client, webhook=url)
        headers, body = got.get(timeout=5)
        payload = json.loads(body)
        assert (payload["webhook_code"], payload["item_id"]) == ("DEFAULT_UPDATE", item_id)
        verify(client, headers, body)
    finally:
        emu.stop()


def test_transaction_update_times_are_one_to_four_a_day_and_step_independent() -> None:
    day = 86400.0
    start = 20_000 * day
    times = transaction_update_times(7, "item-a", start, start + 30 * day)
    per_day = [
        sum(1 for t in times if start + d * day < t <= start + (d + 1) * day) for d in range(30)
    ]
    assert all(1 <= n <= 4 for n in per_day) and len(set(per_day)) > 1
    stepped: list[float] = []
    for step in range(30 * 24 * 4):  # 15-minute steps give the same updates
        lo = start + step * 900
        stepped += transaction_update_times(7, "item-a", lo, lo + 900)
    assert stepped == times
    assert transaction_update_times(7, "item-b", start, start + 30 * day) != times
    assert transaction_update_times(7, "item-a", start, start + 30 * day) == times  # pure


def test_moving_the_clock_sends_the_transaction_updates_due_and_refreshes_the_cache(
    receiver: tuple[str, queue.Queue[tuple[dict[str, str], bytes]]],
) -> None:
    url, got = receiver
    server = start_emulator(port=0)
    try:
        client = make_client(server.url)
        access_token, item_id = link_item(client, webhook=url)
        item = server.emulator.state.by_access_token[access_token]
        # Off by default: moving the clock sends nothing.
        assert (
            raw_post(server.url, "/emulator/clock", {"advance_seconds": 86400})[1][
                "transaction_updates"
            ]
            == 0
        )
        status, _ = raw_post(server.url, "/emulator/transaction-updates", {"enabled": "yes"})
        assert status == 400
        raw_post(server.url, "/emulator/transaction-updates", {"enabled": True})
        before = server.emulator.state.now()
        reply = raw_post(server.url, "/emulator/clock", {"advance_seconds": 2 * 86400})[1]
        due = transaction_update_times(0, item_id, before, reply["now"])
        assert len(due) >= 2
        # Due in one move of the clock, they arrive at its end as one webhook.
        assert reply["transaction_updates"] == 1
        for _ in range(1):
            headers, body = got.get(timeout=5)
            payload = json.loads(body)
            assert (payload["webhook_type"], payload["webhook_code"]) == (
                "TRANSACTIONS",
                "DEFAULT_UPDATE",
            )
            assert payload["item_id"] == item_id
            verify(client, headers, body)
        assert item.last_transactions_update == due[-1]
        # /accounts/get's balances are as of the latest of the day's start and that update.
        now = server.emulator.state.now()
        assert cached_as_of(item, now) == max(due[-1], now - now % 86400)
        # Moved in steps, each update due in its own step sends its own webhook.
        before = server.emulator.state.now()
        sent = sum(
            raw_post(server.url, "/emulator/clock", {"advance_seconds": 600})[1][
                "transaction_updates"
            ]
            for _ in range(6 * 48)
        )
        # (Steps of 10 minutes: the wall clock moving between them may put two in one.)
        assert (
            2 <= sent <= len(transaction_update_times(0, item_id, before, before + 2 * 86400 + 60))
        )
        for _ in range(sent):
            got.get(timeout=5)
    finally:
        server.stop()


def test_fired_default_update_refreshes_the_cached_balances(
    receiver: tuple[str, queue.Queue[tuple[dict[str, str], bytes]]],
) -> None:
    url, got = receiver
    server = start_emulator(port=0)
    try:
        client = make_client(server.url)
        access_token, _ = link_item(client, webhook=url)
        item = server.emulator.state.by_access_token[access_token]
        assert item.last_transactions_update is None
        client.sandbox_item_fire_webhook(
            SandboxItemFireWebhookRequest(access_token=access_token, webhook_code="DEFAULT_UPDATE")
        )
        got.get(timeout=5)
        fired = item.last_transactions_update
        assert fired is not None and cached_as_of(item, fired + 10) == fired
    finally:
        server.stop()
