"""Verify a Plaid webhook's `Plaid-Verification` header exactly as Plaid documents it.

Plaid's docs (https://plaid.com/docs/api/webhooks/webhook-verification/): the header is a
JWT whose header must say `alg: ES256` (nothing else is accepted) and name a `kid`; the
public key for that `kid` comes from `/webhook_verification_key/get`; the signature must
verify; `iat` must be at most 5 minutes old; the SHA-256 of the exact raw body must equal
the `request_body_sha256` claim (constant-time comparison).

Anyone can send such a header, and fetching a key costs a call to Plaid and a web worker's
time, so verification is split: `precheck` runs every check that costs nothing (the header's
shape, the algorithm, the key id's shape, `iat`, the body's digest against its claim) on the
unverified token, and only a token that passes it is worth a key; `check_signature` then
verifies it with that key. How a key is obtained (cached, bounded) is the caller's
(`balances/services/webhook_keys.py`): this module keeps only the per-process cache of keys.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import jwt

from balances.plaid.types import WebhookKey

MAX_AGE_SECONDS = 5 * 60
# A signer's clock a little ahead of ours is tolerated; a token from the future is not.
CLOCK_SKEW_SECONDS = 30
# Errors of /webhook_verification_key/get that mean "no such key".
UNKNOWN_KEY_CODES = frozenset({"INVALID_WEBHOOK_VERIFICATION_KEY_ID", "INVALID_INPUT"})
# Plaid's tokens are about 400 characters; its key ids are UUIDs.
MAX_HEADER_LENGTH = 4096
KID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,99}")
SHA256_HEX = re.compile(r"[0-9a-f]{64}")


class WebhookRejected(Exception):
    """The webhook failed verification. `status` is the HTTP status to answer."""

    def __init__(self, reason: str, status: int = 401) -> None:
        super().__init__(reason)
        self.status = status


@dataclass(frozen=True, slots=True)
class Delivery:
    """A token that passed every free check; its signature is not checked yet.

    `digest` names the delivery: the SHA-256 of the signed bytes (JWT header and claims,
    which hold `iat` and the body's digest). Not of the whole token: an ECDSA signature can
    be altered into another valid one without the key (s -> n - s), so a replay could
    change the token but never the bytes it signs.
    """

    token: str
    kid: str
    iat: float
    digest: str


def precheck(*, body: bytes, header: str | None, now: float | None = None) -> Delivery:
    """Run every check that needs no key on the unverified token; raise WebhookRejected.

    The claims checked here are not yet authenticated: passing them proves nothing, but
    failing them proves the delivery is not Plaid's, at no cost. The signature check
    (`check_signature`) must still follow.
    """
    if not header:
        raise WebhookRejected("missing Plaid-Verification header", 400)
    if len(header) > MAX_HEADER_LENGTH:
        raise WebhookRejected("Plaid-Verification header is too long", 400)
    try:
        jwt_header = jwt.get_unverified_header(header)
        claims = jwt.decode(header, options={"verify_signature": False})
    except jwt.PyJWTError as exc:
        raise WebhookRejected(f"malformed Plaid-Verification header: {exc}", 400) from exc
    if jwt_header.get("alg") != "ES256":
        raise WebhookRejected(f"algorithm {str(jwt_header.get('alg'))[:20]!r} is not ES256")
    kid = jwt_header.get("kid")
    if not isinstance(kid, str) or not KID_PATTERN.fullmatch(kid):
        raise WebhookRejected("no well-formed key id in the token header")
    now = time.time() if now is None else now
    iat = claims.get("iat")
    if not isinstance(iat, int | float) or isinstance(iat, bool):
        raise WebhookRejected("iat is not a number")
    if isinstance(iat, float) and not math.isfinite(iat):  # NaN passes every comparison
        raise WebhookRejected("iat is not a number")
    if iat < now - MAX_AGE_SECONDS:
        raise WebhookRejected("token is older than 5 minutes")
    if iat > now + CLOCK_SKEW_SECONDS:
        raise WebhookRejected("token is issued in the future")
    claimed = claims.get("request_body_sha256")
    if not isinstance(claimed, str) or not SHA256_HEX.fullmatch(claimed):
        raise WebhookRejected("no well-formed request_body_sha256 claim")
    if not hmac.compare_digest(hashlib.sha256(body).hexdigest(), claimed):
        raise WebhookRejected("body does not match its signature")
    signed = header.rsplit(".", 1)[0].encode("utf-8", "surrogatepass")
    return Delivery(
        token=header, kid=kid, iat=float(iat), digest=hashlib.sha256(signed).hexdigest()
    )


def check_signature(delivery: Delivery, key: WebhookKey, now: float | None = None) -> None:
    """Verify `delivery`'s signature with `key` (Plaid's key for its kid); raise otherwise."""
    now = time.time() if now is None else now
    if key.expired_at is not None and key.expired_at <= now:
        raise WebhookRejected(f"key {delivery.kid!r} has expired")
    try:
        public_key = jwt.PyJWK({**key.jwk, "alg": "ES256"}).key
        jwt.decode(
            delivery.token,
            key=public_key,
            algorithms=["ES256"],
            options={"verify_exp": False, "verify_iat": False, "require": ["iat"]},
        )
    except jwt.PyJWTError as exc:
        raise WebhookRejected(f"signature check failed: {exc}") from exc


def verify(
    *,
    body: bytes,
    header: str | None,
    key_for: Callable[[str], WebhookKey],
    now: float | None = None,
) -> Delivery:
    """Verify a webhook delivery; return it. `key_for(kid)` gives Plaid's key for a kid
    (or raises WebhookRejected); it is called only for a token that passed `precheck`."""
    delivery = precheck(body=body, header=header, now=now)
    check_signature(delivery, key_for(delivery.kid), now)
    return delivery


# kid -> key: Plaid's public keys (tiny; a handful exist), per process. A key is only ever
# put here after Plaid gave it; never shared through Redis, whose writers could then forge.
_keys: dict[str, WebhookKey] = {}
_keys_lock = threading.Lock()


def cached_key(kid: str) -> WebhookKey | None:
    """Return this process's copy of Plaid's key `kid`, if it has one."""
    with _keys_lock:
        return _keys.get(kid)


def cache_key(key: WebhookKey) -> None:
    """Keep Plaid's `key` for this process's later deliveries."""
    with _keys_lock:
        _keys[key.kid] = key
