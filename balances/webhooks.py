"""Plaid webhooks: verify `Plaid-Verification` exactly as Plaid documents, then apply them.

Verification (NOTES.md): the header is a JWT whose header must say `alg: ES256` (nothing
else is accepted) and name a `kid`; the public key for that `kid` comes from
`/webhook_verification_key/get` (cached per process by `kid`; an unknown `kid` is fetched
again); the signature must verify; `iat` must be at most 5 minutes old; the SHA-256 of the
exact raw body must equal the `request_body_sha256` claim (constant-time comparison).

Applying a verified webhook only updates the Item and queues work: it answers in
milliseconds, and repeated deliveries leave the same state (refreshes are de-duplicated).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
from django.db import transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from . import net_worth, plaid_client, services
from .item_errors import status_for_error
from .models import Account, PlaidItem
from .plaid_client import PlaidError, WebhookKey

logger = logging.getLogger(__name__)

MAX_AGE_SECONDS = 5 * 60
# A signer's clock a little ahead of ours is tolerated; a token from the future is not.
CLOCK_SKEW_SECONDS = 30
# Plaid fires PENDING_DISCONNECT 7 days before the disconnection.
PENDING_DISCONNECT_NOTICE = timedelta(days=7)
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
            key = plaid_client.webhook_verification_key_get(kid)
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


@dataclass(frozen=True, slots=True)
class WebhookResult:
    handled: bool
    detail: str
    refresh: bool = False


def _when(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    parsed = parse_datetime(value)
    if parsed is not None and timezone.is_naive(parsed):
        parsed = timezone.make_aware(parsed, UTC)
    return parsed


def webhook_process(*, payload: dict[str, Any]) -> WebhookResult:
    """Apply a verified webhook to its Item. Unknown Items and types are only logged."""
    wtype = str(payload.get("webhook_type") or "")
    code = str(payload.get("webhook_code") or "")
    item_id = str(payload.get("item_id") or "")
    with transaction.atomic():
        item = PlaidItem.objects.select_for_update().filter(plaid_item_id=item_id).first()
        if item is None:
            logger.warning("Webhook %s/%s for unknown item %r ignored", wtype, code, item_id)
            return WebhookResult(False, "unknown item")
        result = _apply(item=item, wtype=wtype, code=code, payload=payload)
    if result.refresh:
        # After the commit, so a broker failure reaches the caller (who answers 503 and
        # gets the delivery again). De-duplicated: never queued twice.
        queued = services.item_queue_refresh(item=item)
        detail = "refresh queued" if queued else "refresh already pending"
        result = WebhookResult(True, f"{result.detail}; {detail}")
    logger.info("Webhook %s/%s for item %s: %s", wtype, code, item.pk, result.detail)
    return result


def _apply(*, item: PlaidItem, wtype: str, code: str, payload: dict[str, Any]) -> WebhookResult:
    now = timezone.now()
    fields = ["updated_at"]
    if wtype in ("TRANSACTIONS", "BALANCE") or (wtype, code) == ("ITEM", "LOGIN_REPAIRED"):
        if code not in ("DEFAULT_UPDATE", "SYNC_UPDATES_AVAILABLE", "LOGIN_REPAIRED"):
            logger.info("Webhook %s/%s for item %s: nothing to do", wtype, code, item.pk)
            return WebhookResult(False, "ignored")
        if code == "LOGIN_REPAIRED" and item.status != PlaidItem.Status.REVOKED:
            item.save(update_fields=item.clear_error(warning=True))
        return WebhookResult(True, f"applied {code}", refresh=item.is_active)
    if wtype != "ITEM":
        logger.info("Webhook of unknown type %s/%s for item %s ignored", wtype, code, item.pk)
        return WebhookResult(False, "unknown type")
    if code == "ERROR":
        error = payload.get("error") or {}
        error_code = str(error.get("error_code") or "") if isinstance(error, dict) else ""
        if not error_code:
            return WebhookResult(False, "error webhook without an error code")
        item.status = status_for_error(error_code)
        item.error_code = error_code
        item.error_message = str(error.get("display_message") or error.get("error_message") or "")
        item.error_at = now
        fields += ["status", "error_code", "error_message", "error_at"]
    elif code in ("PENDING_EXPIRATION", "PENDING_DISCONNECT"):
        expires = _when(payload.get("consent_expiration_time")) or _when(
            payload.get("disconnect_time")
        )
        if expires is None:
            # Keep the first-announced date on repeats; else Plaid's notice period.
            expires = item.expires_at if item.warning_code == code else None
            expires = expires or now + PENDING_DISCONNECT_NOTICE
        item.warning_code = code
        item.expires_at = expires
        fields += ["warning_code", "expires_at"]
    elif code == "USER_PERMISSION_REVOKED":
        item.status = PlaidItem.Status.REVOKED
        item.error_code = "USER_PERMISSION_REVOKED"
        item.error_message = "The user revoked access at the bank."
        item.error_at = now
        fields += ["status", "error_code", "error_message", "error_at"]
    elif code == "USER_ACCOUNT_REVOKED":
        account_id = str(payload.get("account_id") or "")
        account = Account.objects.filter(
            item=item, plaid_account_id=account_id, closed_at__isnull=True
        ).first()
        if account is None:
            return WebhookResult(False, "no open account")
        was = net_worth.AccountState.of(account)
        account.closed_at = account.updated_at = now
        account.save(update_fields=["closed_at", "updated_at"])
        net_worth.net_worth_add(
            user_id=item.owner_id, before=[was], after=[net_worth.AccountState.of(account)]
        )
        return WebhookResult(True, "account closed")
    elif code == "NEW_ACCOUNTS_AVAILABLE":
        item.new_accounts_available = True
        fields.append("new_accounts_available")
    elif code == "WEBHOOK_UPDATE_ACKNOWLEDGED":
        return WebhookResult(True, "acknowledged")
    else:
        logger.info("Webhook ITEM/%s for item %s ignored", code, item.pk)
        return WebhookResult(False, "unknown code")
    item.save(update_fields=fields)
    return WebhookResult(True, f"applied {code}")
