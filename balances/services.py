"""Writes: linking Items, refreshing their balances, queueing refreshes.

Every call to Plaid goes through `plaid_client`; every task is queued on commit.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, time
from functools import partial

from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from . import plaid_client, tasks
from .item_errors import status_for_error
from .models import Account, BalanceSnapshot, PlaidItem
from .plaid_client import AccountsResult, PlaidError

logger = logging.getLogger(__name__)

ACCOUNT_FIELDS = (
    "name",
    "official_name",
    "mask",
    "type",
    "subtype",
    "iso_currency_code",
    "unofficial_currency_code",
    "available",
    "current",
    "limit",
    "balances_updated_at",
    "closed_at",
    "updated_at",
)


class LinkError(Exception):
    """Linking an Item failed; nothing was stored. `str()` is fit to show the user."""


@dataclass(frozen=True, slots=True)
class RefreshResult:
    accounts_created: int
    accounts_updated: int
    accounts_closed: int
    snapshots_written: int


# --- Linking -----------------------------------------------------------------------------


def item_link(*, user: User, public_token: str, queue_refresh: bool = True) -> PlaidItem:
    """Exchange a Link public token and store the Item for `user`.

    Looks up the institution's name (best effort: a failure there leaves it blank and the
    Item usable). With `queue_refresh`, queues the first refresh once the Item is committed.
    """
    exchange = plaid_client.item_public_token_exchange(public_token)
    institution_id = institution_name = ""
    try:
        info = plaid_client.item_get(exchange.access_token)
        institution_id = info.institution_id or ""
        if institution_id:
            institution_name = plaid_client.institutions_get_by_id(institution_id).name
    except PlaidError as error:
        logger.warning("Institution lookup for item %s failed: %r", exchange.item_id, error)

    with transaction.atomic():
        item = PlaidItem.objects.select_for_update().filter(plaid_item_id=exchange.item_id).first()
        if item is not None and item.owner_id != user.pk:
            raise LinkError("This bank connection belongs to another user.")
        if item is None:
            item = PlaidItem(owner=user, plaid_item_id=exchange.item_id)
        item.access_token = exchange.access_token
        item.institution_id = institution_id or item.institution_id
        item.institution_name = institution_name or item.institution_name
        item.save()
        if queue_refresh:
            # The Item is valid even if the queue is down: the next scheduled run refreshes it.
            transaction.on_commit(lambda: tasks.refresh_item_balances.delay(item.pk), robust=True)
    return item


def item_link_sandbox(
    *,
    user: User,
    institution_id: str,
    products: Iterable[str] = ("transactions",),
    webhook: str | None = None,
    queue_refresh: bool = True,
) -> PlaidItem:
    """Link a sandbox Item without Link: `/sandbox/public_token/create`, then `item_link`."""
    public_token = plaid_client.sandbox_public_token_create(
        institution_id, initial_products=list(products), webhook=webhook
    )
    return item_link(user=user, public_token=public_token, queue_refresh=queue_refresh)


# --- Refreshing --------------------------------------------------------------------------


def item_refresh_balances(*, item: PlaidItem) -> RefreshResult:
    """Fetch real-time balances for `item` and store them.

    On success: upsert its Accounts (one row per Plaid account, ever), mark vanished
    accounts closed, write snapshots where balances changed or none exists today, and mark
    the Item healthy. On failure: record the error on the Item, keep the last good
    balances and their timestamp, and re-raise the PlaidError.
    """
    try:
        result = plaid_client.accounts_balance_get(item.access_token)
    except PlaidError as error:
        item_record_error(item=item, error=error)
        raise
    return item_store_balances(item=item, result=result)


def item_store_balances(*, item: PlaidItem, result: AccountsResult) -> RefreshResult:
    """Store one Plaid accounts reply for `item` in a single transaction."""
    now = timezone.now()
    start_of_day = datetime.combine(now.date(), time.min, tzinfo=now.tzinfo)
    with transaction.atomic():
        # Serializes concurrent refreshes of one Item (a row lock on PostgreSQL; SQLite
        # serializes all writers anyway), so account rows are never duplicated.
        list(PlaidItem.objects.select_for_update().filter(pk=item.pk).values_list("pk"))
        existing = {a.plaid_account_id: a for a in Account.objects.filter(item=item)}
        snapped_today = set(
            BalanceSnapshot.objects.filter(
                account__item=item, taken_at__gte=start_of_day
            ).values_list("account_id", flat=True)
        )
        created: list[Account] = []
        updated: list[Account] = []
        changed: set[str] = set()
        for remote in result.accounts:
            account = existing.pop(remote.account_id, None)
            if account is None:
                account = Account(item=item, plaid_account_id=remote.account_id)
                created.append(account)
                changed.add(remote.account_id)
            else:
                updated.append(account)
            balances = remote.balances
            if account.balances != (balances.available, balances.current, balances.limit):
                changed.add(remote.account_id)
            account.name = remote.name
            account.official_name = remote.official_name or ""
            account.mask = remote.mask or ""
            account.type = remote.type
            account.subtype = remote.subtype or ""
            account.iso_currency_code = balances.iso_currency_code or ""
            account.unofficial_currency_code = balances.unofficial_currency_code or ""
            account.available = balances.available
            account.current = balances.current
            account.limit = balances.limit
            account.balances_updated_at = balances.last_updated_at or now
            account.closed_at = None
            account.updated_at = now

        closed = [a for a in existing.values() if a.closed_at is None]
        for account in closed:
            account.closed_at = now
            account.updated_at = now

        Account.objects.bulk_create(created)
        Account.objects.bulk_update([*updated, *closed], ACCOUNT_FIELDS)
        snapshots = [
            BalanceSnapshot(
                account=account,
                taken_at=now,
                available=account.available,
                current=account.current,
                limit=account.limit,
            )
            for account in (*created, *updated)
            if account.plaid_account_id in changed or account.pk not in snapped_today
        ]
        BalanceSnapshot.objects.bulk_create(snapshots)

        item.status = PlaidItem.Status.HEALTHY
        item.error_code = item.error_message = ""
        item.error_at = None
        item.last_refreshed_at = now
        if result.institution_id and not item.institution_id:
            item.institution_id = result.institution_id
        item.save(
            update_fields=[
                "status",
                "error_code",
                "error_message",
                "error_at",
                "last_refreshed_at",
                "institution_id",
                "updated_at",
            ]
        )
    return RefreshResult(
        accounts_created=len(created),
        accounts_updated=len(updated),
        accounts_closed=len(closed),
        snapshots_written=len(snapshots),
    )


def item_record_error(*, item: PlaidItem, error: PlaidError) -> None:
    """Record a failed Plaid call on `item`; leave its balances untouched."""
    item.status = status_for_error(error.code)
    item.error_code = error.code
    item.error_message = error.display_message or error.message
    item.error_at = timezone.now()
    item.save(update_fields=["status", "error_code", "error_message", "error_at", "updated_at"])
    log = logger.error if error.code in ("INVALID_API_KEYS", "NOT_CONFIGURED") else logger.info
    log("Item %s: Plaid error %r", item.pk, error)


# --- Queueing ----------------------------------------------------------------------------


def items_queue_refresh(*, items: Iterable[PlaidItem]) -> int:
    """Queue a refresh of each active Item once the transaction commits; return the count.

    Raises kombu's OperationalError when the broker is unreachable (outside a transaction
    the callbacks run at once, so the caller can tell the user).
    """
    pks = [item.pk for item in items if item.is_active]
    for pk in pks:
        transaction.on_commit(partial(tasks.refresh_item_balances.delay, pk))
    return len(pks)


def user_queue_refresh(*, user: User) -> int:
    """Queue a refresh of every active Item of `user`; return how many were queued."""
    return items_queue_refresh(items=PlaidItem.objects.filter(owner=user))
