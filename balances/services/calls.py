"""The per-Item call log: every Plaid call, when, how long, its request id and outcome.

Never stores or logs an access token.
"""

from __future__ import annotations

import logging
from datetime import datetime

from django.utils import timezone

from balances.models import PlaidCall, PlaidItem
from balances.plaid.errors import PlaidError

logger = logging.getLogger(__name__)


def item_record_call(
    *,
    item: PlaidItem,
    endpoint: str,
    request_id: str = "",
    duration_ms: int | None = None,
    error: PlaidError | None = None,
) -> PlaidCall:
    """Append one Plaid call to the Item's call log (time, endpoint, request id, outcome).

    Written in its own statement, outside any refresh transaction: the call happened even
    if storing its result fails. Never stores the access token.
    """
    call = call_row(
        item=item,
        endpoint=endpoint,
        called_at=timezone.now(),
        request_id=error.request_id if error else request_id,
        duration_ms=error.duration_ms if error else duration_ms,
        error_code=error.code if error else "",
    )
    call.save()
    log_call(item, call)
    return call


def call_row(
    *,
    item: PlaidItem,
    endpoint: str,
    called_at: datetime,
    request_id: str,
    duration_ms: int | None,
    error_code: str = "",
) -> PlaidCall:
    return PlaidCall(
        item=item,
        called_at=called_at,
        endpoint=endpoint,
        request_id=request_id[:100],
        error_code=error_code[:100],
        duration_ms=duration_ms,
    )


def log_call(item: PlaidItem, call: PlaidCall) -> None:
    # One structured line per call: Item and Plaid request id for support, never the token.
    logger.info(
        "Item %s: Plaid %s %s",
        item.pk,
        call.endpoint,
        call.error_code or "ok",
        extra={
            "item_id": item.pk,
            "plaid_request_id": call.request_id,
            "plaid_endpoint": call.endpoint,
            "plaid_error_code": call.error_code,
            "duration_ms": call.duration_ms,
        },
    )
