"""Receive a Plaid webhook: verify it, apply it once, answer (the view only maps the result).

Verification (`plaid/webhook_verification.py`, keys: `webhook_keys.py`) runs the free checks
before any key lookup; the body is read strictly once (`plaid/webhook_body.py`). Applying
only updates the Item and queues work: it answers in milliseconds, and repeated deliveries
leave the same state (refreshes are de-duplicated). A verified token is applied at most once:
its delivery is remembered for as long as the token could be accepted, and a replay is
answered 200 without being applied.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

from balances.models import Account, PlaidItem
from balances.plaid import webhook_verification
from balances.plaid.webhook_body import (
    MalformedWebhook,
    Webhook,
    parse_webhook,
    webhook_from_payload,
)
from balances.services import errors, net_worth, queueing, webhook_keys
from balances.services.alerts import record
from balances.shared_state import api as shared_state
from balances.shared_state.api import SharedStateUnavailable

logger = logging.getLogger(__name__)

# Plaid fires PENDING_DISCONNECT 7 days before the disconnection.
PENDING_DISCONNECT_NOTICE = timedelta(days=7)
# A token is accepted while its iat is within [now - MAX_AGE, now + CLOCK_SKEW], so it must
# be remembered for MAX_AGE + CLOCK_SKEW seconds after it is first seen; another CLOCK_SKEW
# covers clocks of several machines that disagree by that much.
REPLAY_MEMORY_SECONDS = (
    webhook_verification.MAX_AGE_SECONDS + 2 * webhook_verification.CLOCK_SKEW_SECONDS
)


@dataclass(frozen=True, slots=True)
class WebhookResult:
    handled: bool
    detail: str
    refresh: bool = False


def webhook_receive(*, body: bytes, header: str | None) -> WebhookResult:
    """Verify a webhook delivery and apply it unless it was applied before.

    Raise WebhookRejected (with the status to answer) when it does not verify: nothing
    changes. A verified body the app cannot read is logged and acknowledged, not applied
    (Plaid would deliver it again forever). Database or broker errors propagate, and the
    delivery is forgotten, so the same delivery may be applied later.
    """
    delivery = webhook_verification.verify(
        body=body, header=header, key_for=webhook_keys.webhook_key_get
    )
    # Claimed after the signature check only: forged tokens never fill this memory, which
    # holds at most Plaid's real deliveries of the last few minutes.
    local = False
    try:
        fresh = shared_state.webhook_delivery_claim(delivery.digest, REPLAY_MEMORY_SECONDS)
    except SharedStateUnavailable as exc:
        # Redis down: remembered in this process only (a replay reaching another process is
        # applied) rather than refusing every webhook until it is back. Logged each time.
        logger.warning("Webhook replays are caught per process only: %s", exc)
        local = True
        fresh = shared_state.webhook_delivery_claim(
            delivery.digest, REPLAY_MEMORY_SECONDS, local=True
        )
    if not fresh:
        logger.warning("Webhook delivery %s seen before: a replay, ignored", delivery.digest[:12])
        return WebhookResult(False, "already received")
    try:
        webhook = parse_webhook(body)
    except MalformedWebhook as exc:
        return _malformed(exc)
    try:
        return _process(webhook)
    except Exception:
        try:
            shared_state.webhook_delivery_release(delivery.digest, local=local)
        except SharedStateUnavailable:
            logger.warning("Webhook delivery not forgotten: shared state down")
        raise


def webhook_process(*, payload: dict[str, Any]) -> WebhookResult:
    """Apply a verified webhook's body (parsed from JSON) to its Item. Unknown Items and
    types, and bodies the app cannot read, are only logged."""
    try:
        webhook = webhook_from_payload(payload)
    except MalformedWebhook as exc:
        return _malformed(exc)
    return _process(webhook)


def _malformed(exc: MalformedWebhook) -> WebhookResult:
    logger.warning("Verified webhook ignored, its body is malformed: %s", exc)
    return WebhookResult(False, f"malformed: {exc}")


def _process(webhook: Webhook) -> WebhookResult:
    wtype, code = webhook.webhook_type, webhook.webhook_code
    with transaction.atomic():
        item = None
        if webhook.item_id is not None:
            item = (
                PlaidItem.objects.select_for_update().filter(plaid_item_id=webhook.item_id).first()
            )
        if item is None:
            logger.warning(
                "Webhook %s/%s for unknown item %r ignored", wtype, code, webhook.item_id
            )
            return WebhookResult(False, "unknown item")
        result = _apply(item=item, webhook=webhook)
    if result.refresh:
        # After the commit, so a broker failure reaches the caller (who answers 503 and
        # gets the delivery again). De-duplicated: never queued twice. Real time: Plaid
        # says new data exists (or the login works again), so the billed call buys fresher
        # balances than Plaid's cache (within PLAID_BALANCE_MONTHLY_BUDGET).
        queued = queueing.item_queue_refresh(item=item, realtime=True)
        detail = "refresh queued" if queued else "refresh already pending"
        result = WebhookResult(True, f"{result.detail}; {detail}")
    elif result.handled:
        # The Item changed: its owner's alerts are evaluated in the worker (the refresh
        # queued above evaluates them when it ends).
        record.user_alerts_queue(user_id=item.owner_id)
    logger.info("Webhook %s/%s for item %s: %s", wtype, code, item.pk, result.detail)
    return result


def _apply(*, item: PlaidItem, webhook: Webhook) -> WebhookResult:
    wtype, code = webhook.webhook_type, webhook.webhook_code
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
        if webhook.error is None:
            return WebhookResult(False, "error webhook without an error code")
        fields += errors.item_error_set(
            item=item, code=webhook.error.code, message=webhook.error.message, at=now
        )
    elif code in ("PENDING_EXPIRATION", "PENDING_DISCONNECT"):
        expires = webhook.consent_expiration_time or webhook.disconnect_time
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
        account = Account.objects.filter(
            item=item, plaid_account_id=webhook.account_id or "", closed_at__isnull=True
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
