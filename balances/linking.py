"""Writes for Plaid Link: link tokens, finishing update mode, unlinking.

Linking itself (token exchange, duplicate guard) is `services.item_link`. Every Plaid call
goes through `plaid_client`; refreshes are queued on commit.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.contrib.auth.models import User
from django.db import transaction

from . import net_worth, plaid_client, services
from .models import PlaidItem
from .plaid_client import LinkToken, PlaidError
from .profiles import profile_get_or_create
from .services import ITEM_GONE_CODES, LinkError

logger = logging.getLogger(__name__)


def link_token_create_for_user(*, user: User) -> LinkToken:
    """Create a Link token for linking a new bank (normal mode, products from settings).

    `client_user_id` is the user's random Profile.plaid_user_id, never a name or email;
    the Item gets settings.PLAID_WEBHOOK_URL as its webhook when set. Raises PlaidError.
    """
    profile = profile_get_or_create(user=user)
    return plaid_client.link_token_create(
        client_user_id=str(profile.plaid_user_id),
        webhook=settings.PLAID_WEBHOOK_URL or None,
    )


def link_token_create_for_item(*, item: PlaidItem, account_selection: bool = False) -> LinkToken:
    """Create an update-mode Link token for `item` (re-login, or adding new accounts).

    Update mode uses the Item's access token and no products. With `account_selection`,
    Link lets the user pick accounts Plaid reported as new. Raises PlaidError.
    """
    profile = profile_get_or_create(user=item.owner)
    return plaid_client.link_token_create(
        client_user_id=str(profile.plaid_user_id),
        access_token=item.access_token,
        account_selection=account_selection,
    )


def item_update_complete(*, item: PlaidItem) -> None:
    """Record that the user finished Link's update mode for `item`, and refresh it.

    Update mode repairs the login and renews consent, so the error, the expiry warning and
    the new-accounts flag are cleared; the access token stays the same. The Item shows as
    pending until the queued refresh confirms it (a refresh that fails sets the error again).
    """
    fields = item.clear_error(warning=True)
    item.new_accounts_available = False
    item.save(update_fields=[*fields, "new_accounts_available"])
    # The repair stands even if the queue is down: the next scheduled run refreshes it.
    services.item_queue_refresh_best_effort(item=item)


def item_unlink(*, item: PlaidItem) -> None:
    """Remove `item` at Plaid, then delete it with its accounts and their balance history.

    ITEM_NOT_FOUND (and INVALID_ACCESS_TOKEN) from Plaid means it is already gone there.
    Any other failure raises LinkError and changes nothing here, so the user can retry and
    no Item is left billed at Plaid without a row that could remove it.
    """
    try:
        plaid_client.item_remove(item.access_token)
    except PlaidError as error:
        if error.code not in ITEM_GONE_CODES:
            raise LinkError(unlink_error_message(error)) from error
    logger.info("Item %s unlinked by its owner", item.pk)
    with transaction.atomic():
        # Cascades to its Accounts, their BalanceSnapshots and its PlaidCall log; the
        # owner's daily totals are then summed again from the snapshots that remain.
        item.delete()
        net_worth.net_worth_rebuild(user_id=item.owner_id)


def unlink_error_message(error: PlaidError) -> str:
    """Return what to tell the user when Plaid would not remove an Item."""
    if error.retryable:
        return (
            "Plaid could not be reached to remove this connection, so nothing was changed. "
            "Try again in a few minutes."
        )
    return (
        f"Plaid refused to remove this connection ({error.code}), so nothing was changed. "
        "Try again later."
    )
