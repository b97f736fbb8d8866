"""Plaid's webhook verification key for a key id, at a cost anonymous traffic cannot raise.

Anyone can POST /plaid/webhook/ naming any `kid`, and a key we do not hold means a call to
Plaid while a web worker waits. So a key comes, in this order, from:

1. this process's cache (`webhook_verification.cached_key`): free; Plaid's keys only;
2. nowhere, when Plaid said in the last PLAID_WEBHOOK_UNKNOWN_KEY_TTL seconds that it has no
   such key (one shared-state read): refused 401;
3. Plaid, only while holding the one key-fetch slot of all processes and within
   PLAID_WEBHOOK_KEY_FETCHES_PER_MINUTE (two shared-state round trips), with a fetch time-out
   of PLAID_WEBHOOK_KEY_TIMEOUT seconds. A delivery that finds the slot taken or the rate
   spent is refused 503 at once, never waits: Plaid delivers a real webhook again later.

So random key ids cost at most that many calls a minute and hold at most one worker of the
whole deployment at a time; one key id, at most one call per TTL. Callers run the free
checks first (`webhook_verification.precheck`): a token failing them never gets here.

Without the shared store (Redis down, file unusable) the same bounds hold per process, in its
memory: fetching stays bounded (per process, not for all) rather than either unbounded or
impossible; a webhook still verifies while Redis is down. Logged each time.
"""

from __future__ import annotations

import logging

from balances.plaid import client
from balances.plaid import webhook_verification as verification
from balances.plaid.errors import PlaidError
from balances.plaid.types import WebhookKey
from balances.plaid.webhook_verification import UNKNOWN_KEY_CODES, WebhookRejected
from balances.shared_state import api as shared_state
from balances.shared_state.api import SharedStateUnavailable

logger = logging.getLogger(__name__)


def webhook_key_get(kid: str) -> WebhookKey:
    """Return Plaid's key `kid`; raise WebhookRejected (401 unknown, 503 not now)."""
    key = verification.cached_key(kid)
    if key is not None:
        return key
    try:
        token = _claim_fetch(kid, local=False)
        local = False
    except SharedStateUnavailable as exc:
        logger.warning(
            "Webhook key %r: shared state unavailable, bounded per process: %s", kid, exc
        )
        token = _claim_fetch(kid, local=True)
        local = True
    try:
        # Another thread of this process may have fetched it while we took the slot.
        key = verification.cached_key(kid)
        if key is None:
            key = _fetch(kid, local=local)
    finally:
        try:
            shared_state.webhook_key_fetch_release(token, local=local)
        except SharedStateUnavailable:
            logger.warning("Webhook key fetch slot not released; it expires by itself")
    return key


def _claim_fetch(kid: str, *, local: bool) -> str:
    if shared_state.webhook_key_unknown(kid, local=local):
        raise WebhookRejected(f"unknown key id {kid!r} (Plaid said so recently)")
    token = shared_state.webhook_key_fetch_claim(local=local)
    if token is None:
        raise WebhookRejected("verification key fetches are at their limit", 503)
    return token


def _fetch(kid: str, *, local: bool) -> WebhookKey:
    try:
        key = client.webhook_verification_key_get(kid)
    except PlaidError as error:
        if error.code not in UNKNOWN_KEY_CODES:
            # Plaid unreachable: we cannot verify now; 503 makes Plaid deliver again.
            raise WebhookRejected(f"verification key unavailable ({error.code})", 503) from error
        try:
            shared_state.webhook_key_mark_unknown(kid, local=local)
        except SharedStateUnavailable:
            logger.warning("Unknown webhook key id %r not remembered: shared state down", kid)
        raise WebhookRejected(f"unknown key id {kid!r}") from error
    verification.cache_key(key)
    return key
