"""Operator writes: clear an Item's error and retry, remove an Item.

Used by the admin's actions and by the `item_*` management commands; both only call these.
"""

from __future__ import annotations

import logging

from balances.models import PlaidItem
from balances.services import linking, queueing

logger = logging.getLogger(__name__)


def item_clear_error(*, item: PlaidItem) -> bool:
    """Mark `item` healthy again (error cleared) and queue a real-time refresh of it.

    For an operator who fixed the cause (or wants to see whether it persists): the refresh
    sets the error again if Plaid still reports it. The expiry warning stays (only the
    user's re-login renews consent). Returns whether a refresh was queued (False when one
    already is). Raises kombu's OperationalError like `queueing.item_queue_refresh`, after
    the error is cleared.
    """
    item.save(update_fields=item.clear_error())
    logger.info("Item %s: error cleared by an operator", item.pk, extra={"item_id": item.pk})
    return queueing.item_queue_refresh(item=item, realtime=True)


def item_remove(*, item: PlaidItem) -> None:
    """Remove `item` at Plaid, then delete it here with its accounts and history.

    The owner's unlink (`linking.item_unlink`): ITEM_NOT_FOUND counts as removed; any
    other failure raises LinkError and changes nothing.
    """
    item_pk = item.pk
    linking.item_unlink(item=item)
    logger.info("Item %s removed by an operator", item_pk, extra={"item_id": item_pk})
