"""Link and unlink banks: Link tokens, the token exchange with its duplicate guard,
update mode, choosing which of two connections to one bank to keep, and removing an Item
at Plaid and here.

Every Plaid call goes through `balances.plaid.client`; refreshes are queued on commit.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from django.conf import settings
from django.contrib.auth.models import User
from django.db import DatabaseError, transaction
from kombu.exceptions import OperationalError as KombuOperationalError

from balances.models import PlaidItem
from balances.plaid import client
from balances.plaid.errors import PlaidError, is_item_gone, unlink_error_message
from balances.plaid.link_metadata import LinkMetadata
from balances.plaid.types import AccountsResult, LinkToken, TokenExchange
from balances.selectors import items as item_reads
from balances.services import duplicates, net_worth, queueing
from balances.services.profiles import profile_get_or_create
from balances.shared_state import api as shared_state

logger = logging.getLogger(__name__)


class LinkError(Exception):
    """Linking an Item failed; nothing was stored. `str()` is fit to show the user."""


class ItemAlreadyLinked(LinkError):
    """The new link duplicates one of the user's Items; the new one was not kept."""

    def __init__(self, existing: PlaidItem) -> None:
        super().__init__(
            f"{existing.display_name} is already linked with these accounts, so nothing was added. "
            "Its balances stay on your dashboard."
        )
        self.existing = existing


ACCOUNTS_UNREADABLE = (
    "Plaid could not list this bank's accounts, so nothing was added "
    "(without them, accounts linked twice could count twice). Try again in a few minutes."
)


def item_link(
    *,
    user: User,
    public_token: str,
    metadata: LinkMetadata | None = None,
    queue_refresh: bool = True,
) -> PlaidItem:
    """Exchange a Link public token and store the Item for `user`.

    Looks up the institution's name (best effort: a failure there falls back to the name in
    Link's `metadata`, or blank, and leaves the Item usable). With `queue_refresh`, marks
    the Item pending and queues its first refresh once it is committed.

    Duplicate guard (every path: Link, OAuth return, the sandbox command): the accounts
    Plaid reports for the new Item (`/accounts/get`, no fee; never the browser's word) are
    compared with `user`'s open accounts at the same institution (mask, type, subtype,
    name). The same set as one of `user`'s Items: the new Item is removed at Plaid and
    ItemAlreadyLinked is raised. Some shared: the Item and its accounts are stored, and
    each shared account is marked a copy of the older connection's (counted once, see
    `services/duplicates.py`) until the user keeps one connection (`item_keep`). Other
    users' Items never count. If Plaid cannot list the accounts, or storing fails after
    the exchange, the new Item is removed at Plaid too (LinkError or the error raised): no
    half-made Item is left anywhere. Raises LinkError before any Plaid call when
    `metadata` holds what the Item cannot store.
    """
    if metadata is not None:
        _check_metadata(metadata)
    exchange = client.item_public_token_exchange(public_token)
    is_new = not PlaidItem.objects.filter(plaid_item_id=exchange.item_id).exists()
    try:
        item = _item_store_link(user=user, exchange=exchange, metadata=metadata)
    except BaseException:
        if is_new:
            item_remove_at_plaid(access_token=exchange.access_token, item_id=exchange.item_id)
        raise
    if queue_refresh:
        queueing.item_queue_refresh_best_effort(item=item)
    return item


def _check_metadata(metadata: LinkMetadata) -> None:
    """Raise LinkError when Link's institution does not fit the Item's columns.

    They are the fallback when Plaid's institution lookup fails: checked before the
    exchange, so a bad value changes nothing here or at Plaid.
    """
    for field, value in (
        ("institution_id", metadata.institution_id),
        ("institution_name", metadata.institution_name),
    ):
        limit = getattr(PlaidItem._meta.get_field(field), "max_length", None)
        if (limit is not None and len(value) > limit) or "\x00" in value:
            raise LinkError("Plaid Link sent an invalid institution, so nothing was added.")


def _item_store_link(
    *, user: User, exchange: TokenExchange, metadata: LinkMetadata | None
) -> PlaidItem:
    institution_id = metadata.institution_id if metadata else ""
    institution_name = ""
    try:
        info = client.item_get(exchange.access_token)
        institution_id = info.institution_id or institution_id
        if institution_id:
            institution_name = client.institutions_get_by_id(institution_id).name
    except PlaidError as error:
        logger.warning("Institution lookup for item %s failed: %r", exchange.item_id, error)
    institution_name = institution_name or (metadata.institution_name if metadata else "")
    try:
        reply = client.accounts_get(exchange.access_token)
    except PlaidError as error:
        logger.warning("Accounts of new item %s unreadable: %r", exchange.item_id, error)
        raise LinkError(ACCOUNTS_UNREADABLE) from error
    institution_id = institution_id or reply.institution_id or ""

    with transaction.atomic():
        item = PlaidItem.objects.select_for_update().filter(plaid_item_id=exchange.item_id).first()
        if item is not None and item.owner_id != user.pk:
            raise LinkError("This bank connection belongs to another user.")
        if item is None:
            same = duplicates.item_find_same(
                user_id=user.pk,
                institution_id=institution_id,
                keys=duplicates.keys_of_reply(reply),
            )
            if same is not None:
                raise ItemAlreadyLinked(same)
            item = PlaidItem(owner=user, plaid_item_id=exchange.item_id)
        item.access_token = exchange.access_token
        item.institution_id = institution_id or item.institution_id
        item.institution_name = institution_name or item.institution_name
        item.save()
        _item_store_accounts(item=item, reply=reply)
    return item


def _item_store_accounts(*, item: PlaidItem, reply: AccountsResult) -> None:
    """Register the accounts of `reply` (a `/accounts/get` of `item`) and mark those
    `item` shares with another connection of its owner, in the caller's transaction:
    marked before their first refresh counts any balance, so no total ever counts a
    shared account twice."""
    duplicates.item_accounts_register(item=item, result=reply)
    duplicates.accounts_mark_duplicates(user_id=item.owner_id, institution_id=item.institution_id)


def item_keep(*, keep: PlaidItem) -> list[str]:
    """Keep `keep` and unlink (at Plaid and here) every other connection of its owner that
    shares an account with it; return the names of those removed.

    Each is removed as `item_unlink` does (a Plaid failure raises LinkError and keeps that
    one, and any not yet removed); the marks of copies are then set again.
    """
    removed: list[str] = []
    for other in item_reads.items_sharing_accounts(item=keep):
        name = other.display_name
        item_unlink(item=other)
        removed.append(name)
    return removed


def item_remove_at_plaid(*, access_token: str, item_id: str) -> bool:
    """Remove an Item at Plaid (ends billing and access); ITEM_NOT_FOUND counts as removed.

    Return whether it is gone. Other failures are logged (never the token) and return False.
    """
    try:
        client.item_remove(access_token)
    except PlaidError as error:
        if is_item_gone(error):
            return True
        logger.error("Could not remove item %s at Plaid: %r", item_id, error)
        return False
    return True


def item_link_sandbox(
    *,
    user: User,
    institution_id: str,
    products: Iterable[str] = ("transactions",),
    webhook: str | None = None,
    queue_refresh: bool = True,
    override_username: str | None = None,
    override_password: str | None = None,
) -> PlaidItem:
    """Link a sandbox Item without Link: `/sandbox/public_token/create`, then `item_link`
    (so with its duplicate guard: ItemAlreadyLinked when the bank is linked already with
    these accounts). `override_username`/`override_password`: a sandbox test user."""
    public_token = client.sandbox_public_token_create(
        institution_id,
        initial_products=list(products),
        webhook=webhook,
        override_username=override_username,
        override_password=override_password,
    )
    return item_link(user=user, public_token=public_token, queue_refresh=queue_refresh)


def link_token_create_for_user(*, user: User) -> LinkToken:
    """Create a Link token for linking a new bank (normal mode, products from settings).

    `client_user_id` is the user's random Profile.plaid_user_id, never a name or email;
    the Item gets settings.PLAID_WEBHOOK_URL as its webhook when set, and OAuth banks send
    the browser back to settings.PLAID_REDIRECT_URI when set. Raises PlaidError.
    """
    profile = profile_get_or_create(user=user)
    return client.link_token_create(
        client_user_id=str(profile.plaid_user_id),
        webhook=settings.PLAID_WEBHOOK_URL or None,
        redirect_uri=settings.PLAID_REDIRECT_URI or None,
    )


def link_token_create_for_item(*, item: PlaidItem, account_selection: bool = False) -> LinkToken:
    """Create an update-mode Link token for `item` (re-login, or adding new accounts).

    Update mode uses the Item's access token and no products. With `account_selection`,
    Link lets the user pick accounts Plaid reported as new. OAuth banks send the browser
    back to settings.PLAID_REDIRECT_URI when set. Raises PlaidError.
    """
    profile = profile_get_or_create(user=item.owner)
    return client.link_token_create(
        client_user_id=str(profile.plaid_user_id),
        access_token=item.access_token,
        account_selection=account_selection,
        redirect_uri=settings.PLAID_REDIRECT_URI or None,
    )


def item_update_complete(*, item: PlaidItem) -> bool:
    """Record that the user finished Link's update mode for `item`, and refresh it.

    Update mode repairs the login and renews consent, so the error, the expiry warning and
    the new-accounts flag are cleared; the access token stays the same. The caller checks
    that an update-mode Link session for `item` really finished (the web view: one this
    browser session started, consumed once).

    The refresh is a real-time (billed) one, so it stays within "Refresh now"'s limits:
    at most one per Item per BALANCE_REFRESH_NOW_INTERVAL, never while one is queued or
    running. Return whether a refresh is queued or running now; if not, the next scheduled
    run refreshes the Item (a refresh that fails sets the error again).
    """
    added = item.new_accounts_available
    fields = item.clear_error(warning=True)
    item.new_accounts_available = False
    item.save(update_fields=[*fields, "new_accounts_available"])
    if added:
        _item_sync_accounts(item=item)
    return _item_queue_refresh_now(item=item)


def _item_sync_accounts(*, item: PlaidItem) -> None:
    """Store the accounts Plaid now reports for `item` (`/accounts/get`, no fee) and mark
    those another connection of its owner holds, so accounts added in update mode never
    count twice. Best effort: on failure (logged) the refresh stores them, and the next
    link or unlink at the institution marks them."""
    try:
        reply = client.accounts_get(item.access_token)
        with transaction.atomic():
            _item_store_accounts(item=item, reply=reply)
    except (PlaidError, DatabaseError):
        logger.warning("Item %s: accounts added in update mode not checked", item.pk, exc_info=True)


def _item_queue_refresh_now(*, item: PlaidItem) -> bool:
    """Queue a real-time refresh of `item` within "Refresh now"'s limits
    (`queueing.item_queue_refresh_now`: the same interval and claim as the dashboard's
    button, so the two together spend at most one on-demand refresh per Item per interval).

    Best effort: the repair stands when Redis, the queue or the database is unreachable
    (logged; the next scheduled run refreshes it). Return whether a refresh is queued or
    already pending.
    """
    try:
        outcome = queueing.item_queue_refresh_now(item=item)
    except (shared_state.SharedStateUnavailable, KombuOperationalError, DatabaseError):
        logger.warning(
            "Item %s: refresh not queued; the next scheduled run does it", item.pk, exc_info=True
        )
        return False
    return bool(outcome.queued or outcome.pending)


def item_unlink(*, item: PlaidItem) -> None:
    """Remove `item` at Plaid, then delete it with its accounts and their balance history.

    ITEM_NOT_FOUND (and INVALID_ACCESS_TOKEN) from Plaid means it is already gone there.
    Any other failure raises LinkError and changes nothing here, so the user can retry and
    no Item is left billed at Plaid without a row that could remove it.
    """
    try:
        client.item_remove(item.access_token)
    except PlaidError as error:
        if not is_item_gone(error):
            raise LinkError(unlink_error_message(error)) from error
    logger.info("Item %s unlinked by its owner", item.pk)
    with transaction.atomic():
        # Cascades to its Accounts, their BalanceSnapshots and its PlaidCall log; the
        # owner's daily totals are then summed again from the snapshots that remain.
        item.delete()
        # Copies of its accounts held by another connection count again (their marks
        # were cleared with it; with three connections, another may hold them now).
        duplicates.accounts_mark_duplicates(
            user_id=item.owner_id, institution_id=item.institution_id, rebuild=False
        )
        net_worth.net_worth_rebuild(user_id=item.owner_id)
