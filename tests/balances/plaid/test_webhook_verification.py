"""`webhook_verification`: a webhook's `Plaid-Verification` header checked exactly as Plaid
documents it, every free check before any key is asked for (how keys are obtained and
bounded: tests/balances/services/test_webhook_keys.py)."""

import base64
import hashlib
import time

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from balances.plaid import webhook_verification
from balances.plaid.types import WebhookKey
from balances.plaid.webhook_verification import (
    MAX_AGE_SECONDS,
    WebhookRejected,
    check_signature,
    precheck,
    verify,
)
from tests.conftest import webhook_body

BODY = webhook_body("item-abc")
# The order of P-256's group: (r, s) and (r, n - s) are both valid ECDSA signatures.
P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


def rejection(body: bytes, header: str | None, key_for) -> WebhookRejected:
    with pytest.raises(WebhookRejected) as raised:
        verify(body=body, header=header, key_for=key_for)
    return raised.value


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def test_a_webhook_signed_as_plaid_does_verifies(webhook_keys):
    token = webhook_keys.sign(BODY)
    delivery = verify(body=BODY, header=token, key_for=webhook_keys.get)
    assert (delivery.kid, delivery.token) == ("k1", token)
    signed = token.rsplit(".", 1)[0].encode()
    assert delivery.digest == hashlib.sha256(signed).hexdigest()
    assert webhook_keys.fetches == ["k1"]


def claims_for(body: bytes, **changes):
    claims = {"iat": int(time.time()), "request_body_sha256": hashlib.sha256(body).hexdigest()}
    claims.update(changes)
    return claims


ES256_HEADER = b'{"alg":"ES256","kid":"k1"}'
# Each is refused by a check that needs no key: the key is never asked for.
FREE_REJECTIONS = {
    "missing header": (lambda keys, body: None, 400),
    "garbage header": (lambda keys, body: "not-a-jwt", 400),
    "header too long": (lambda keys, body: keys.sign(body) + "A" * 5000, 400),
    "claims not JSON": (lambda keys, body: f"{b64(ES256_HEADER)}.{b64(b'[')}.x", 400),
    "wrong alg HS256": (
        # The classic confusion attack: an HMAC "signed" with public material.
        lambda keys, body: jwt.encode(
            claims_for(body), "k" * 32, algorithm="HS256", headers={"kid": "k1"}
        ),
        401,
    ),
    "alg none": (
        lambda keys, body: jwt.encode(
            claims_for(body), None, algorithm="none", headers={"kid": "k1"}
        ),
        401,
    ),
    "no kid": (
        lambda keys, body: jwt.encode(claims_for(body), keys.private["k1"], algorithm="ES256"),
        401,
    ),
    "kid with a NUL": (
        lambda keys, body: keys.sign(body, kid="k1\x00", key=keys.private["k1"]),
        401,
    ),
    "kid too long": (
        lambda keys, body: keys.sign(body, kid="k" * 101, key=keys.private["k1"]),
        401,
    ),
    "stale iat": (
        lambda keys, body: keys.sign(body, iat=int(time.time()) - MAX_AGE_SECONDS - 5),
        401,
    ),
    "iat in the future": (lambda keys, body: keys.sign(body, iat=int(time.time()) + 600), 401),
    "iat not a number": (
        lambda keys, body: jwt.encode(
            claims_for(body, iat="now"),
            keys.private["k1"],
            algorithm="ES256",
            headers={"kid": "k1"},
        ),
        401,
    ),
    "iat NaN": (
        lambda keys, body: jwt.encode(
            claims_for(body, iat=float("nan")),
            keys.private["k1"],
            algorithm="ES256",
            headers={"kid": "k1"},
        ),
        401,
    ),
    "iat a huge integer": (
        lambda keys, body: jwt.encode(
            claims_for(body, iat=10**400),
            keys.private["k1"],
            algorithm="ES256",
            headers={"kid": "k1"},
        ),
        401,
    ),
    "no digest claim": (
        lambda keys, body: jwt.encode(
            {"iat": int(time.time())}, keys.private["k1"], algorithm="ES256", headers={"kid": "k1"}
        ),
        401,
    ),
    "digest of another body": (lambda keys, body: keys.sign(body + b" "), 401),
    "digest not hex": (lambda keys, body: keys.sign(body, digest="é" * 64), 401),
}


@pytest.mark.parametrize("case", FREE_REJECTIONS)
def test_what_can_be_refused_for_free_is_refused_before_any_key_is_asked_for(webhook_keys, case):
    make, status = FREE_REJECTIONS[case]
    assert rejection(BODY, make(webhook_keys, BODY), webhook_keys.get).status == status
    assert webhook_keys.fetches == []


def test_a_bad_signature_is_refused_with_the_right_key(webhook_keys):
    token = webhook_keys.sign(BODY, key=ec.generate_private_key(ec.SECP256R1()))
    assert rejection(BODY, token, webhook_keys.get).status == 401
    assert webhook_keys.fetches == ["k1"]


def test_the_key_lookups_refusal_is_passed_on(webhook_keys):
    other = ec.generate_private_key(ec.SECP256R1())
    token = webhook_keys.sign(BODY, kid="k-unknown", key=other)

    def unknown(kid):
        raise WebhookRejected(f"unknown key id {kid!r}")

    assert rejection(BODY, token, unknown).status == 401


def test_expired_key_is_refused(webhook_keys):
    key = webhook_keys.get("k1")
    expired = WebhookKey(kid="k1", jwk=key.jwk, created_at=0, expired_at=int(time.time()) - 1)
    delivery = precheck(body=BODY, header=webhook_keys.sign(BODY))
    with pytest.raises(WebhookRejected):
        check_signature(delivery, expired)
    check_signature(delivery, key)  # the same delivery verifies with a live key


def test_a_delivery_is_named_by_what_is_signed_not_by_its_malleable_signature(webhook_keys):
    token = webhook_keys.sign(BODY)
    signing_input, signature = token.rsplit(".", 1)
    raw = base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4))
    r, s = int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big")
    twin = f"{signing_input}.{b64(r.to_bytes(32, 'big') + (P256_ORDER - s).to_bytes(32, 'big'))}"
    assert twin != token
    first = verify(body=BODY, header=token, key_for=webhook_keys.get)
    second = verify(body=BODY, header=twin, key_for=webhook_keys.get)  # also valid...
    assert first.digest == second.digest  # ...and the same delivery


def test_keys_are_cached_per_process_by_kid(webhook_keys):
    assert webhook_verification.cached_key("k1") is None
    key = webhook_keys.get("k1")
    webhook_verification.cache_key(key)
    assert webhook_verification.cached_key("k1") == key
    assert webhook_verification.cached_key("k2") is None
