"""Verify a Plaid webhook's `Plaid-Verification` header exactly as Plaid documents it.

Plaid's docs (https://plaid.com/docs/api/webhooks/webhook-verification/): the header is a
JWT whose header must say `alg: ES256` (nothing else is accepted) and name a `kid`; the
public key for that `kid` comes from `/webhook_verification_key/get` (cached per process by
`kid`; an unknown `kid` is fetched again); the signature must verify; `iat` must be at most
5 minutes old; the SHA-256 of the exact raw body must equal the `request_body_sha256`
claim (constant-time comparison).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from typing import Any

import jwt

from balances.plaid import client
from balances.plaid.errors import PlaidError
from balances.plaid.types import WebhookKey

MAX_AGE_SECONDS = 5 * 60
# A signer's clock a little ahead of ours is tolerated; a token from the future is not.
CLOCK_SKEW_SECONDS = 30
# Errors of /webhook_verification_key/get that mean "no such key".
UNKNOWN_KEY_CODES = frozenset({"INVALID_WEBHOOK_VERIFICATION_KEY_ID", "INVALID_INPUT"})


class WebhookRejected(Exception):
    """The webhook failed verification. `status` is the HTTP status to answer."""

    def __init__(self, reason: str, status: int = 401) -> None:
        super().__init__(reason)
        self.status = status


# kid -> key. Keys are public and tiny; at most a handful exist. Per process.
_keys: dict[str, WebhookKey] = {}
_keys_lock = threading.Lock()


def _key_for(kid: str) -> WebhookKey:
    with _keys_lock:
        key = _keys.get(kid)
    if key is None:
        try:
            key = client.webhook_verification_key_get(kid)
        except PlaidError as error:
            if error.code in UNKNOWN_KEY_CODES:
                raise WebhookRejected(f"unknown key id {kid!r}") from error
            # Plaid unreachable: we cannot verify now; 503 makes Plaid deliver again.
            raise WebhookRejected(f"verification key unavailable ({error.code})", 503) from error
        with _keys_lock:
            _keys[kid] = key
    if key.expired_at is not None and key.expired_at <= time.time():
        raise WebhookRejected(f"key {kid!r} has expired")
    return key


def verify(*, body: bytes, header: str | None, now: float | None = None) -> dict[str, Any]:
    """Verify a webhook delivery; return its JSON body. Raise WebhookRejected otherwise."""
    if not header:
        raise WebhookRejected("missing Plaid-Verification header", 400)
    try:
        jwt_header = jwt.get_unverified_header(header)
    except jwt.PyJWTError as exc:
        raise WebhookRejected(f"malformed Plaid-Verification header: {exc}", 400) from exc
    if jwt_header.get("alg") != "ES256":
        raise WebhookRejected(f"algorithm {jwt_header.get('alg')!r} is not ES256")
    kid = jwt_header.get("kid")
    if not isinstance(kid, str) or not kid:
        raise WebhookRejected("no key id in the token header")
    key = _key_for(kid)
    try:
        public_key = jwt.PyJWK({**key.jwk, "alg": "ES256"}).key
        claims = jwt.decode(
            header,
            key=public_key,
            algorithms=["ES256"],
            options={"verify_exp": False, "verify_iat": False, "require": ["iat"]},
        )
    except jwt.PyJWTError as exc:
        raise WebhookRejected(f"signature check failed: {exc}") from exc
    now = time.time() if now is None else now
    iat = claims.get("iat")
    if not isinstance(iat, int | float) or isinstance(iat, bool):
        raise WebhookRejected("iat is not a number")
    if iat < now - MAX_AGE_SECONDS:
        raise WebhookRejected("token is older than 5 minutes")
    if iat > now + CLOCK_SKEW_SECONDS:
        raise WebhookRejected("token is issued in the future")
    claimed = claims.get("request_body_sha256")
    if not isinstance(claimed, str):
        raise WebhookRejected("no request_body_sha256 claim")
    if not hmac.compare_digest(hashlib.sha256(body).hexdigest(), claimed):
        raise WebhookRejected("body does not match its signature")
    try:
        payload = json.loads(body)
    except ValueError as exc:
        raise WebhookRejected("body is not JSON", 400) from exc
    if not isinstance(payload, dict):
        raise WebhookRejected("body is not a JSON object", 400)
    return payload
