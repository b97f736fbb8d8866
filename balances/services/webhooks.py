"""Apply a verified Plaid webhook to its Item (verification: `plaid/webhook_verification.py`).

Applying only updates the Item and queues work: it answers in milliseconds, and repeated
deliveries leave the same state (refreshes are de-duplicated).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from balances.models import Account, PlaidItem
from balances.services import errors, net_worth, queueing

logger = logging.getLogger(__name__)

# Plaid fires PENDING_DISCONNECT 7 days before the disconnection.
PENDING_DISCONNECT_NOTICE = timedelta(days=7)


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
        queued = queueing.item_queue_refresh(item=item)
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
        message = str(error.get("display_message") or error.get("error_message") or "")
        fields += errors.item_error_set(item=item, code=error_code, message=message, at=now)
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
