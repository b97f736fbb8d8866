"""Writes: linking Items, refreshing their balances, queueing refreshes.

Every call to Plaid goes through `plaid_client`; every task is queued on commit.
"""

from __future__ import annotations

import contextlib
import logging
import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from functools import partial

from django.conf import settings
from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone
from kombu.exceptions import OperationalError as KombuOperationalError

from . import bulk, net_worth, plaid_client, tasks, throttle
from .item_errors import status_for_error
from .link_metadata import LinkMetadata
from .models import Account, BalanceSnapshot, PlaidCall, PlaidItem
from .plaid_client import AccountsResult, PlaidError

logger = logging.getLogger(__name__)

# Errors of /item/remove that mean the Item is already gone at Plaid.
# INVALID_ACCESS_TOKEN: Plaid no longer knows the token, so nothing is left to remove.
ITEM_GONE_CODES = frozenset({"ITEM_NOT_FOUND", "INVALID_ACCESS_TOKEN"})

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


class ItemAlreadyLinked(LinkError):
    """The new link duplicates one of the user's Items; the new one was not kept."""

    def __init__(self, existing: PlaidItem) -> None:
        name = existing.institution_name or existing.institution_id or "This bank"
        super().__init__(
            f"{name} is already linked with these accounts, so nothing was added. "
            "Its balances stay on your dashboard."
        )
        self.existing = existing


@dataclass(frozen=True, slots=True)
class RefreshResult:
    accounts_created: int
    accounts_updated: int
    accounts_closed: int
    snapshots_written: int


# --- Linking -----------------------------------------------------------------------------


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

    Duplicate guard: a new Item at the same institution with the same set of account masks
    (from `metadata`) as one of `user`'s Items is removed at Plaid again and
    ItemAlreadyLinked is raised; other users' Items never count. If storing fails after
    the exchange, the new Item is removed at Plaid too: no half-made Item is left anywhere.
    """
    exchange = plaid_client.item_public_token_exchange(public_token)
    is_new = not PlaidItem.objects.filter(plaid_item_id=exchange.item_id).exists()
    try:
        item = _item_store_link(user=user, exchange=exchange, metadata=metadata)
    except BaseException:
        if is_new:
            item_remove_at_plaid(access_token=exchange.access_token, item_id=exchange.item_id)
        raise
    if queue_refresh:
        item_queue_refresh_best_effort(item=item)
    return item


def item_queue_refresh_best_effort(*, item: PlaidItem) -> bool:
    """Queue a real-time refresh of `item` (the user is waiting); return whether it was.

    For an Item just linked or repaired: it stays valid when Redis or the broker is down
    (logged; the next scheduled run refreshes it), so neither failure reaches the caller.
    """
    try:
        return item_queue_refresh(item=item, realtime=True)
    except (throttle.ThrottleUnavailable, KombuOperationalError):
        logger.warning(
            "Item %s: refresh not queued; the next scheduled run does it", item.pk, exc_info=True
        )
        return False


def _item_store_link(
    *, user: User, exchange: plaid_client.TokenExchange, metadata: LinkMetadata | None
) -> PlaidItem:
    institution_id = metadata.institution_id if metadata else ""
    institution_name = ""
    try:
        info = plaid_client.item_get(exchange.access_token)
        institution_id = info.institution_id or institution_id
        if institution_id:
            institution_name = plaid_client.institutions_get_by_id(institution_id).name
    except PlaidError as error:
        logger.warning("Institution lookup for item %s failed: %r", exchange.item_id, error)
    institution_name = institution_name or (metadata.institution_name if metadata else "")

    with transaction.atomic():
        item = PlaidItem.objects.select_for_update().filter(plaid_item_id=exchange.item_id).first()
        if item is not None and item.owner_id != user.pk:
            raise LinkError("This bank connection belongs to another user.")
        if item is None and metadata is not None and institution_id and metadata.masks:
            duplicate = item_find_duplicate(
                user=user, institution_id=institution_id, masks=metadata.masks
            )
            if duplicate is not None:
                raise ItemAlreadyLinked(duplicate)
        if item is None:
            item = PlaidItem(owner=user, plaid_item_id=exchange.item_id)
        item.access_token = exchange.access_token
        item.institution_id = institution_id or item.institution_id
        item.institution_name = institution_name or item.institution_name
        item.save()
    return item


def item_find_duplicate(
    *, user: User, institution_id: str, masks: frozenset[str]
) -> PlaidItem | None:
    """Return `user`'s Item at `institution_id` whose open accounts have exactly `masks`."""
    candidates = PlaidItem.objects.filter(owner=user, institution_id=institution_id)
    for candidate in candidates.prefetch_related("accounts"):
        existing = {a.mask for a in candidate.accounts.all() if a.closed_at is None and a.mask}
        if existing and existing == masks:
            return candidate
    return None


def item_remove_at_plaid(*, access_token: str, item_id: str) -> bool:
    """Remove an Item at Plaid (ends billing and access); ITEM_NOT_FOUND counts as removed.

    Return whether it is gone. Other failures are logged (never the token) and return False.
    """
    try:
        plaid_client.item_remove(access_token)
    except PlaidError as error:
        if error.code in ITEM_GONE_CODES:
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
) -> PlaidItem:
    """Link a sandbox Item without Link: `/sandbox/public_token/create`, then `item_link`."""
    public_token = plaid_client.sandbox_public_token_create(
        institution_id, initial_products=list(products), webhook=webhook
    )
    return item_link(user=user, public_token=public_token, queue_refresh=queue_refresh)


# --- Refreshing --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FetchedBalances:
    """A successful balance call for an Item, not stored yet."""

    item: PlaidItem
    endpoint: str
    result: AccountsResult
    called_at: datetime


def item_refresh_balances(
    *, item: PlaidItem, realtime: bool = True, record_retryable: bool = True
) -> RefreshResult:
    """Fetch balances for `item` and store them; log the call in the Item's call log.

    `realtime` asks `/accounts/balance/get` (billed per call in production); otherwise
    `/accounts/get` (cached balances, no per-call fee). On success: upsert its Accounts
    (one row per Plaid account, ever), mark vanished accounts closed, write snapshots where
    balances changed or none exists today, and mark the Item healthy. On failure: keep the
    last good balances and their timestamp, record the error on the Item (a retryable one
    only with `record_retryable`: a caller that retries records it when it gives up), and
    re-raise the PlaidError.
    """
    fetched = item_fetch_balances(item=item, realtime=realtime, record_retryable=record_retryable)
    return items_store_fetched(fetched=[fetched])[0]


def item_fetch_balances(
    *, item: PlaidItem, realtime: bool = True, record_retryable: bool = True
) -> FetchedBalances:
    """Call Plaid for `item`'s balances (see `item_refresh_balances`); store nothing yet.

    On failure: log the call, record the error as `item_refresh_balances` does, re-raise.
    """
    endpoint = "/accounts/balance/get" if realtime else "/accounts/get"
    fetch = plaid_client.accounts_balance_get if realtime else plaid_client.accounts_get
    try:
        result = fetch(item.access_token)
    except PlaidError as error:
        item_record_call(item=item, endpoint=endpoint, error=error)
        if error.code == "LAST_UPDATED_DATETIME_OUT_OF_RANGE":
            item_record_old_balances(item=item, error=error)
        elif record_retryable or not error.retryable:
            item_record_error(item=item, error=error)
        raise
    return FetchedBalances(item, endpoint, result, timezone.now())


def items_store_fetched(*, fetched: Sequence[FetchedBalances]) -> list[RefreshResult]:
    """Log the calls and store their replies (`items_store_balances`) in one transaction.

    The calls happened even if storing fails: then they are logged on their own before
    the error goes up. Cost: one statement for the log, in the store's transaction.
    """
    rows = [
        _call_row(
            item=f.item,
            endpoint=f.endpoint,
            called_at=f.called_at,
            request_id=f.result.request_id,
            duration_ms=f.result.duration_ms,
        )
        for f in fetched
    ]
    try:
        with transaction.atomic():
            PlaidCall.objects.bulk_create(rows)
            results = items_store_balances(replies=[(f.item, f.result) for f in fetched])
    except Exception:
        for row in rows:
            row.pk = None  # ids of the rolled-back insert
        PlaidCall.objects.bulk_create(rows)
        raise
    finally:
        for f, row in zip(fetched, rows, strict=True):
            _log_call(f.item, row)
    return results


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
    call = _call_row(
        item=item,
        endpoint=endpoint,
        called_at=timezone.now(),
        request_id=error.request_id if error else request_id,
        duration_ms=error.duration_ms if error else duration_ms,
        error_code=error.code if error else "",
    )
    call.save()
    _log_call(item, call)
    return call


def _call_row(
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


def _log_call(item: PlaidItem, call: PlaidCall) -> None:
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


def item_store_balances(*, item: PlaidItem, result: AccountsResult) -> RefreshResult:
    """Store one Plaid accounts reply for `item` in a single transaction."""
    return items_store_balances(replies=[(item, result)])[0]


ITEM_FIELDS = (
    "status",
    "error_code",
    "error_message",
    "error_at",
    "last_refreshed_at",
    "institution_id",
    "updated_at",
)


def items_store_balances(
    *, replies: Sequence[tuple[PlaidItem, AccountsResult]]
) -> list[RefreshResult]:
    """Store Plaid accounts replies, one per distinct Item, in a single transaction; return
    what each stored, in order.

    Per Item: upsert its Accounts (one row per Plaid account, ever), mark vanished ones
    closed, write snapshots where balances changed or none exists today, mark the Item
    healthy and refreshed, and add the change to its owner's daily totals. Cost: about ten
    statements however many Items (their rows locked in id order, so two batches never
    deadlock); per Item only Python work on its accounts.
    """
    now = timezone.now()
    start_of_day = datetime.combine(now.date(), time.min, tzinfo=now.tzinfo)
    item_ids = sorted(item.pk for item, _ in replies)
    if len(set(item_ids)) != len(item_ids):
        raise ValueError("one reply per Item")
    counts: list[tuple[int, int, int]] = []  # per reply: accounts created, updated, closed
    # No savepoint when the caller's transaction holds it (`items_store_fetched`): if this
    # fails, that whole transaction fails.
    with transaction.atomic(savepoint=False):
        # Serializes concurrent refreshes of one Item (a row lock on PostgreSQL; SQLite
        # serializes all writers anyway), so account rows are never duplicated.
        list(
            PlaidItem.objects.select_for_update()
            .filter(pk__in=item_ids)
            .order_by("pk")
            .values_list("pk")
        )
        by_item: dict[int, dict[str, Account]] = {pk: {} for pk in item_ids}
        snapped_today: set[int] = set()
        # One query: the accounts, each with whether it has a snapshot today yet.
        for row in Account.objects.filter(item_id__in=item_ids).annotate(
            snapped_today=Exists(
                BalanceSnapshot.objects.filter(account=OuterRef("pk"), taken_at__gte=start_of_day)
            )
        ):
            by_item[row.item_id][row.plaid_account_id] = row
            if row.snapped_today:
                snapped_today.add(row.pk)
        before: dict[int, tuple[object, ...]] = {}
        items_before = {item.pk: bulk.values_of(item, ITEM_FIELDS) for item, _ in replies}
        counted: dict[int, tuple[list[net_worth.AccountState], list[Account]]] = {}
        created: list[Account] = []
        changed_rows: list[Account] = []
        new_snapshots: list[tuple[Account, bool]] = []  # (account, changed)
        for item, result in replies:
            existing = by_item[item.pk]
            known = list(existing.values())
            before.update((a.pk, bulk.values_of(a, ACCOUNT_FIELDS)) for a in known)
            states, accounts = counted.setdefault(item.owner_id, ([], []))
            states.extend(net_worth.AccountState.of(a) for a in known)
            accounts.extend(known)
            n_created = n_updated = 0
            for remote in result.accounts:
                account: Account | None = existing.pop(remote.account_id, None)
                balances = remote.balances
                if account is None:
                    account = Account(item=item, plaid_account_id=remote.account_id)
                    created.append(account)
                    accounts.append(account)
                    n_created += 1
                    is_changed = True
                else:
                    changed_rows.append(account)
                    n_updated += 1
                    is_changed = account.balances != (
                        balances.available,
                        balances.current,
                        balances.limit,
                    )
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
                new_snapshots.append((account, is_changed))
            closed = [a for a in existing.values() if a.closed_at is None]
            for account in closed:
                account.closed_at = now
                account.updated_at = now
            changed_rows.extend(closed)
            item.clear_error()
            item.last_refreshed_at = now
            if result.institution_id and not item.institution_id:
                item.institution_id = result.institution_id
            item.updated_at = now
            counts.append((n_created, n_updated, len(closed)))

        Account.objects.bulk_create(created)
        # Only the cells that changed: bulk_update of every field cost more than the call.
        bulk.update_changed(Account, changed_rows, ACCOUNT_FIELDS, before)
        snapshots = [
            BalanceSnapshot(
                account=account,
                taken_at=now,
                available=account.available,
                current=account.current,
                limit=account.limit,
            )
            for account, is_changed in new_snapshots
            if is_changed or account.pk not in snapped_today
        ]
        BalanceSnapshot.objects.bulk_create(snapshots)
        bulk.update_changed(PlaidItem, [item for item, _ in replies], ITEM_FIELDS, items_before)
        # The owners' daily totals (the dashboard's history) follow: last, as their UPDATE
        # holds the row of the owner's day until the commit; owner by owner in id order
        # (and currencies in order), so two batches sharing owners never deadlock.
        for owner_id, (states, accounts) in sorted(counted.items()):
            net_worth.net_worth_add(
                user_id=owner_id,
                before=states,
                after=[net_worth.AccountState.of(a) for a in accounts],
                day=timezone.localdate(now),
            )
    written = Counter(snapshot.account.item_id for snapshot in snapshots)
    return [
        RefreshResult(*count, snapshots_written=written[item.pk])
        for count, (item, _) in zip(counts, replies, strict=True)
    ]


def item_record_error(*, item: PlaidItem, error: PlaidError, retries: int = 0) -> None:
    """Record a failed Plaid call on `item`; leave its balances untouched.

    `retries`: how many retries failed before giving up (said in the message).
    """
    item.status = status_for_error(error.code)
    item.error_code = error.code
    item.error_message = error.display_message or error.message
    if retries:
        item.error_message += (
            f" (gave up after {retries} retries; the next scheduled refresh tries again)"
        )
    item.error_at = timezone.now()
    item.save(update_fields=["status", "error_code", "error_message", "error_at", "updated_at"])
    log = logger.error if error.code in ("INVALID_API_KEYS", "NOT_CONFIGURED") else logger.info
    log("Item %s: Plaid error %r", item.pk, error)


# --- Queueing ----------------------------------------------------------------------------


def item_queue_refresh(*, item: PlaidItem, realtime: bool | None = None) -> bool:
    """Queue a refresh of an active Item unless one is already queued or running.

    Returns whether it was queued. Sets `refresh_requested_at` (the dashboard shows
    "refreshing…" until the refresh ends). `realtime=None` follows
    BALANCE_SCHEDULED_SOURCE. The task is published when the transaction commits.
    Raises ThrottleUnavailable when the shared state (Redis) is unreachable, and kombu's
    OperationalError when the broker is (outside a transaction the callback runs at once,
    so the caller can tell the user); either way nothing stays marked as pending.
    """
    if not item.is_active:
        return False
    if realtime is None:
        realtime = settings.BALANCE_SCHEDULED_SOURCE == "realtime"
    if not throttle.pending_mark(item.pk):
        return False
    now = timezone.now()
    PlaidItem.objects.filter(pk=item.pk).update(refresh_requested_at=now)
    item.refresh_requested_at = now
    # Inside a transaction the task is published at commit, where a failure can no longer
    # reach the caller: it is logged (robust) and the pending mark undone.
    transaction.on_commit(
        partial(_publish_refresh, item.pk, realtime),
        robust=transaction.get_connection().in_atomic_block,
    )
    return True


def _publish_refresh(item_id: int, realtime: bool) -> None:
    try:
        tasks.refresh_item_balances.delay(item_id, realtime=realtime)
    except Exception:
        _unmark_pending([item_id])
        raise


def _unmark_pending(item_ids: list[int]) -> None:
    """A refresh could not be queued: undo its pending mark so the next one is not refused."""
    PlaidItem.objects.filter(pk__in=item_ids).update(refresh_requested_at=None)
    with contextlib.suppress(throttle.ThrottleUnavailable):
        throttle.items_release({}, finished=item_ids)


def items_queue_refresh(*, items: Iterable[PlaidItem], realtime: bool | None = None) -> int:
    """Queue a refresh of each active Item not already pending; return how many were queued.

    Beat's fan-out: Items go in tasks of BALANCE_REFRESH_BATCH_SIZE (`refresh_items_balances`),
    whose replies are stored together, a fraction of the cost of one task per Item. Marks
    and errors as `item_queue_refresh`; a batch that cannot be published leaves none of its
    Items pending.
    """
    if realtime is None:
        realtime = settings.BALANCE_SCHEDULED_SOURCE == "realtime"
    ids: list[int] = []
    try:
        for item in items:
            if item.is_active and throttle.pending_mark(item.pk):
                ids.append(item.pk)
    finally:
        # Redis failing halfway: the Items marked so far are queued all the same.
        size = max(1, settings.BALANCE_REFRESH_BATCH_SIZE)
        robust = transaction.get_connection().in_atomic_block
        for start in range(0, len(ids), size):
            batch = ids[start : start + size]
            PlaidItem.objects.filter(pk__in=batch).update(refresh_requested_at=timezone.now())
            transaction.on_commit(partial(_publish_refreshes, batch, realtime), robust=robust)
    return len(ids)


def _publish_refreshes(item_ids: list[int], realtime: bool) -> None:
    try:
        tasks.refresh_items_balances.delay(item_ids, realtime=realtime)
    except Exception:
        _unmark_pending(item_ids)  # the next fan-out queues them again
        raise


@dataclass(frozen=True, slots=True)
class RefreshRequest:
    """What "Refresh now" did for each of a user's Items."""

    queued: tuple[PlaidItem, ...]
    # A refresh was already queued or running.
    pending: tuple[PlaidItem, ...]
    # Refreshed on demand too recently: (Item, when the next on-demand refresh may run).
    throttled: tuple[tuple[PlaidItem, datetime], ...]
    # Needs re-login or revoked: cannot be refreshed.
    inactive: tuple[PlaidItem, ...]


def user_queue_refresh(*, user: User) -> RefreshRequest:
    """Queue a real-time refresh of every active Item of `user` ("Refresh now").

    Each Item may be refreshed on demand once per BALANCE_REFRESH_NOW_INTERVAL; an Item
    whose refresh is already queued or running is not queued again. Raises
    ThrottleUnavailable or OperationalError (see `item_queue_refresh`).
    """
    queued: list[PlaidItem] = []
    pending: list[PlaidItem] = []
    throttled: list[tuple[PlaidItem, datetime]] = []
    inactive: list[PlaidItem] = []
    for item in PlaidItem.objects.filter(owner=user).order_by("institution_name", "pk"):
        if not item.is_active:
            inactive.append(item)
            continue
        wait = throttle.refresh_now_wait(item.pk)
        if wait > 0:
            throttled.append((item, timezone.now() + timedelta(seconds=math.ceil(wait))))
            continue
        throttle.refresh_now_claim(item.pk)
        try:
            was_queued = item_queue_refresh(item=item, realtime=True)
        except Exception:
            with contextlib.suppress(throttle.ThrottleUnavailable):
                throttle.refresh_now_release(item.pk)
            raise
        if was_queued:
            queued.append(item)
        else:
            throttle.refresh_now_release(item.pk)
            pending.append(item)
    return RefreshRequest(
        queued=tuple(queued),
        pending=tuple(pending),
        throttled=tuple(throttled),
        inactive=tuple(inactive),
    )
