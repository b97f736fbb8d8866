"""`webhook_verification.verify`: a webhook's `Plaid-Verification` header checked exactly as
Plaid documents it; the verification keys cached by kid."""

import hashlib
import json
import time

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from balances.plaid import client as plaid_client
from balances.plaid.errors import PlaidError
from balances.plaid.types import WebhookKey
from balances.plaid.webhook_verification import MAX_AGE_SECONDS, WebhookRejected, verify
from tests.conftest import webhook_body

BODY = webhook_body("item-abc")


def rejection(body: bytes, header: str | None) -> WebhookRejected:
    with pytest.raises(WebhookRejected) as raised:
        verify(body=body, header=header)
    return raised.value


def test_a_webhook_signed_as_plaid_does_verifies_and_gives_its_body(webhook_keys):
    assert verify(body=BODY, header=webhook_keys.sign(BODY)) == json.loads(BODY)


@pytest.mark.parametrize(
    ("case", "status"),
    [
        ("missing header", 400),
        ("garbage header", 400),
        ("bad signature", 401),
        ("wrong alg HS256", 401),
        ("alg none", 401),
        ("stale iat", 401),
        ("iat in the future", 401),
        ("tampered body", 401),
        ("unknown kid", 401),
        ("no digest claim", 401),
    ],
)
def test_unverified_webhooks_are_refused(webhook_keys, case, status):
    body = BODY
    token = webhook_keys.sign(body)
    if case == "missing header":
        token = None
    elif case == "garbage header":
        token = "not-a-jwt"
    elif case == "bad signature":
        token = webhook_keys.sign(body, key=ec.generate_private_key(ec.SECP256R1()))
    elif case == "wrong alg HS256":
        # The classic confusion attack: an HMAC "signed" with public material.
        token = jwt.encode(
            {"iat": int(time.time()), "request_body_sha256": hashlib.sha256(body).hexdigest()},
            "k" * 32,
            algorithm="HS256",
            headers={"kid": "k1"},
        )
    elif case == "alg none":
        token = jwt.encode(
            {"iat": int(time.time()), "request_body_sha256": hashlib.sha256(body).hexdigest()},
            None,
            algorithm="none",
            headers={"kid": "k1"},
        )
    elif case == "stale iat":
        token = webhook_keys.sign(body, iat=int(time.time()) - MAX_AGE_SECONDS - 5)
    elif case == "iat in the future":
        token = webhook_keys.sign(body, iat=int(time.time()) + 600)
    elif case == "tampered body":
        body = webhook_body("item-abc", code="USER_PERMISSION_REVOKED")
    elif case == "unknown kid":
        other = ec.generate_private_key(ec.SECP256R1())
        token = webhook_keys.sign(body, kid="k-unknown", key=other)
    elif case == "no digest claim":
        token = jwt.encode(
            {"iat": int(time.time())},
            webhook_keys.private["k1"],
            algorithm="ES256",
            headers={"kid": "k1"},
        )
    assert rejection(body, token).status == status


def test_key_is_cached_by_kid_and_refetched_for_a_new_kid(webhook_keys):
    for _ in range(3):
        assert verify(body=BODY, header=webhook_keys.sign(BODY))
    assert webhook_keys.fetches == ["k1"]
    webhook_keys.new("k2")  # Plaid rotated its key
    assert verify(body=BODY, header=webhook_keys.sign(BODY, kid="k2"))
    assert webhook_keys.fetches == ["k1", "k2"]


def test_expired_key_is_refused(webhook_keys, monkeypatch):
    good = webhook_keys.get

    def expired(key_id):
        key = good(key_id)
        return WebhookKey(kid=key.kid, jwk=key.jwk, created_at=0, expired_at=int(time.time()) - 1)

    monkeypatch.setattr(plaid_client, "webhook_verification_key_get", expired)
    assert rejection(BODY, webhook_keys.sign(BODY)).status == 401


def test_plaid_unreachable_for_the_key_answers_503_so_plaid_retries(webhook_keys, monkeypatch):
    def down(key_id):
        raise PlaidError(code="CONNECTION_ERROR", message="down", retryable=True)

    monkeypatch.setattr(plaid_client, "webhook_verification_key_get", down)
    assert rejection(BODY, webhook_keys.sign(BODY)).status == 503
    # Not cached as missing: once Plaid answers again, the same key verifies.
    monkeypatch.setattr(plaid_client, "webhook_verification_key_get", webhook_keys.get)
    assert verify(body=BODY, header=webhook_keys.sign(BODY)) == json.loads(BODY)
