"""Record what went wrong on an Item: a failed call, an error webhook, old balances kept.

The one home of "which status a Plaid error code puts an Item in" and of writing an error
onto an Item; refreshes and webhooks both record errors here.
"""

from __future__ import annotations

import logging
from datetime import datetime

from django.utils import timezone

from balances.models import Account, PlaidItem
from balances.plaid.errors import (
    CONFIGURATION_CODES,
    LOGIN_REQUIRED_CODES,
    REVOKED_CODES,
    PlaidError,
)

logger = logging.getLogger(__name__)


def status_for_error(code: str) -> PlaidItem.Status:
    """Return the Item status a failed call with `code` puts the Item in."""
    if code in LOGIN_REQUIRED_CODES:
        return PlaidItem.Status.LOGIN_REQUIRED
    if code in REVOKED_CODES:
        return PlaidItem.Status.REVOKED
    return PlaidItem.Status.ERROR


def item_error_set(*, item: PlaidItem, code: str, message: str, at: datetime) -> list[str]:
    """Put `item` in the status error `code` calls for, with `message`; save nothing.

    Return the fields changed, for the caller's `save(update_fields=...)`.
    """
    item.status = status_for_error(code)
    item.error_code = code
    item.error_message = message
    item.error_at = at
    return ["status", "error_code", "error_message", "error_at"]


def is_operator_error(error: PlaidError) -> bool:
    """Return whether `error` is this server's (Plaid keys missing or wrong), not an Item's."""
    return error.code in CONFIGURATION_CODES


def operator_error_log(*, error: PlaidError, item_id: int | None = None) -> None:
    """Log a configuration error for the operator, at ERROR, saying what to fix."""
    logger.error(
        "Plaid configuration error %s (the operator's, no Item's): %s. Set PLAID_CLIENT_ID, "
        "PLAID_SECRET and PLAID_ENV for this process (see .env.example); item %s unchanged",
        error.code,
        error.message,
        item_id,
        extra={"plaid_error_code": error.code, "operator_error": True},
    )


def item_record_error(*, item: PlaidItem, error: PlaidError, retries: int = 0) -> None:
    """Record a failed Plaid call on `item`; leave its balances untouched.

    `retries`: how many retries failed before giving up (said in the message). A
    configuration error (`CONFIGURATION_CODES`: this server's Plaid keys missing or wrong)
    is the operator's, not the Item's: it is logged for the operator and the Item is left
    as it was (its owner could do nothing about it, and every Item would look broken).
    """
    if is_operator_error(error):
        operator_error_log(error=error, item_id=item.pk)
        return
    message = error.display_message or error.message
    if retries:
        message += f" (gave up after {retries} retries; the next scheduled refresh tries again)"
    fields = item_error_set(item=item, code=error.code, message=message, at=timezone.now())
    item.save(update_fields=[*fields, "updated_at"])
    logger.info("Item %s: Plaid error %r", item.pk, error)


def item_record_old_balances(*, item: PlaidItem, error: PlaidError) -> None:
    """Record that the bank had no balances as recent as asked: keep the old ones, note age.

    The Item's status is unchanged (the connection works); the error code and a message
    with the age of the balances shown are recorded for the dashboard and admin.
    """
    now = timezone.now()
    oldest = (
        Account.objects.filter(item=item, closed_at__isnull=True)
        .exclude(balances_updated_at=None)
        .order_by("balances_updated_at")
        .values_list("balances_updated_at", flat=True)
        .first()
    )
    if oldest is None:
        age = "no balances have been received yet"
    else:
        hours = int((now - oldest).total_seconds() // 3600)
        age = f"balances shown are from {oldest:%Y-%m-%d %H:%M} UTC ({hours} h old)"
    item.error_code = error.code
    item.error_message = f"The bank has no newer balances; {age}."
    item.error_at = now
    item.save(update_fields=["error_code", "error_message", "error_at", "updated_at"])
