"""Queue refreshes: one Item, beat's fan-out, and a user's "Refresh now".

Tasks are published when the transaction commits. `balances.tasks` sits above the services
(its tasks call them), so it is imported only there, lazily, never at module level.
"""

from __future__ import annotations

import contextlib
import logging
import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial

from django.conf import settings
from django.contrib.auth.models import User
from django.db import DatabaseError, transaction
from django.utils import timezone
from kombu.exceptions import OperationalError as KombuOperationalError

from balances.models import PlaidItem
from balances.services import pending
from balances.shared_state import api as shared_state

logger = logging.getLogger(__name__)


def item_queue_refresh_best_effort(*, item: PlaidItem) -> bool:
    """Queue a real-time refresh of `item` (the user is waiting); return whether it was.

    For an Item just linked or repaired: it stays valid when the broker or the database is
    briefly unreachable (logged; the next scheduled run refreshes it), so neither failure
    reaches the caller.
    """
    try:
        return item_queue_refresh(item=item, realtime=True)
    except (KombuOperationalError, DatabaseError):
        logger.warning(
            "Item %s: refresh not queued; the next scheduled run does it", item.pk, exc_info=True
        )
        return False


def item_queue_refresh(
    *, item: PlaidItem, realtime: bool | None = None, on_demand: bool = False
) -> bool:
    """Queue a refresh of an active Item unless one is already queued or running.

    Returns whether it was queued. Marks the refresh pending (`pending.py`; the dashboard
    shows "refreshing…" until the refresh ends). `realtime=None` follows
    BALANCE_SCHEDULED_SOURCE; `on_demand` marks the user's "Refresh now" (see
    `budget.budget_take_call`). The task is published when the transaction commits.
    Raises kombu's OperationalError when the broker is unreachable (outside a transaction
    the callback runs at once, so the caller can tell the user); nothing then stays
    marked as pending.
    """
    if not item.is_active:
        return False
    if realtime is None:
        realtime = settings.BALANCE_SCHEDULED_SOURCE == "realtime"
    marked_at = pending.item_pending_mark(item_id=item.pk)
    if marked_at is None:
        return False
    item.refresh_requested_at = marked_at
    # Inside a transaction the task is published at commit, where a failure can no longer
    # reach the caller: it is logged (robust) and the pending mark undone.
    transaction.on_commit(
        partial(_publish_refresh, item.pk, realtime, on_demand),
        robust=transaction.get_connection().in_atomic_block,
    )
    return True


def _publish_refresh(item_id: int, realtime: bool, on_demand: bool = False) -> None:
    from balances import tasks

    try:
        if on_demand:
            tasks.refresh_item_balances.delay(item_id, realtime=realtime, on_demand=True)
        else:
            tasks.refresh_item_balances.delay(item_id, realtime=realtime)
    except Exception:
        _unmark_pending([item_id])
        raise


def _unmark_pending(item_ids: list[int]) -> None:
    """A refresh could not be queued: undo its pending mark so the next one is not refused."""
    pending.items_pending_end(item_ids=item_ids)


def items_queue_refresh(
    *,
    items: Iterable[PlaidItem],
    realtime: bool | None = None,
    not_refreshed_since: datetime | None = None,
) -> int:
    """Queue a refresh of each active Item not already pending (nor, with
    `not_refreshed_since`, refreshed since then); return how many were queued.

    Beat's fan-out and the admin's action: one task per Item, published when the
    transaction commits. Marks and errors as `item_queue_refresh`; the Items whose task
    could not be published are left not pending, so the next fan-out queues them. Cost:
    one UPDATE per Item (the pending mark, which checks the Item as it is then, not as
    `items` was read), one publish per Item.
    """
    if realtime is None:
        realtime = settings.BALANCE_SCHEDULED_SOURCE == "realtime"
    ids: list[int] = []
    try:
        for item in items:
            marked = item.is_active and pending.item_pending_mark(
                item_id=item.pk, not_refreshed_since=not_refreshed_since
            )
            if marked:
                ids.append(item.pk)
    finally:
        # The database failing halfway: the Items marked so far are queued all the same.
        if ids:
            transaction.on_commit(
                partial(_publish_refreshes, ids, realtime),
                robust=transaction.get_connection().in_atomic_block,
            )
    return len(ids)


def _publish_refreshes(item_ids: list[int], realtime: bool) -> None:
    from balances import tasks

    for n, item_id in enumerate(item_ids):
        try:
            tasks.refresh_item_balances.delay(item_id, realtime=realtime)
        except Exception:
            _unmark_pending(item_ids[n:])  # the next fan-out queues them again
            raise


@dataclass(frozen=True, slots=True)
class RefreshRequest:
    """What "Refresh now" did for each of a user's Items."""

    queued: tuple[PlaidItem, ...]
    # A refresh was already queued or running (perhaps waiting to retry).
    pending: tuple[PlaidItem, ...]
    # Asked for on demand too recently: (Item, when the next on-demand refresh may run).
    # That request did not necessarily refresh it (it may have failed): the Item's
    # `last_refreshed_at` says when it last was.
    throttled: tuple[tuple[PlaidItem, datetime], ...]
    # Needs re-login or revoked: cannot be refreshed.
    inactive: tuple[PlaidItem, ...]


def user_queue_refresh(*, user: User) -> RefreshRequest:
    """Queue a real-time refresh of every active Item of `user` ("Refresh now").

    Each Item as `item_queue_refresh_now`, in order of institution. Raises as it does; the
    Items before the failure stay queued.
    """
    results = [
        item_queue_refresh_now(item=item)
        for item in PlaidItem.objects.filter(owner=user).order_by("institution_name", "pk")
    ]
    return RefreshRequest(
        queued=tuple(i for r in results for i in r.queued),
        pending=tuple(i for r in results for i in r.pending),
        throttled=tuple(t for r in results for t in r.throttled),
        inactive=tuple(i for r in results for i in r.inactive),
    )


def item_queue_refresh_now(*, item: PlaidItem) -> RefreshRequest:
    """Queue a real-time refresh of `item` within "Refresh now"'s limits.

    The result holds `item` in exactly one of its fields. None for an Item that needs a new
    login; none while one is queued or running (or waiting to retry), whatever the
    interval; otherwise one on-demand refresh per BALANCE_REFRESH_NOW_INTERVAL (kept in
    shared state). Raises SharedStateUnavailable (the interval lives in Redis) or kombu's
    OperationalError (see `item_queue_refresh`); nothing is then left claimed.
    """
    if not item.is_active:
        return RefreshRequest(queued=(), pending=(), throttled=(), inactive=(item,))
    if item.is_refresh_pending:
        # Said before the interval: a pending refresh may be a retry after a failure,
        # which the interval would report as a refresh that happened.
        return RefreshRequest(queued=(), pending=(item,), throttled=(), inactive=())
    wait = shared_state.refresh_now_wait(item.pk)
    if wait > 0:
        next_at = timezone.now() + timedelta(seconds=math.ceil(wait))
        return RefreshRequest(queued=(), pending=(), throttled=((item, next_at),), inactive=())
    shared_state.refresh_now_claim(item.pk)
    try:
        was_queued = item_queue_refresh(item=item, realtime=True, on_demand=True)
    except Exception:
        with contextlib.suppress(shared_state.SharedStateUnavailable):
            shared_state.refresh_now_release(item.pk)
        raise
    if was_queued:
        return RefreshRequest(queued=(item,), pending=(), throttled=(), inactive=())
    shared_state.refresh_now_release(item.pk)
    return RefreshRequest(queued=(), pending=(item,), throttled=(), inactive=())


def items_queue_refresh_on_open(*, items: Iterable[PlaidItem]) -> int:
    """Queue a real-time refresh of each of `items` (a user's, as the dashboard loaded them)
    that is active, not pending, and whose last real-time balances (`last_realtime_at`; a
    refresh from Plaid's cache does not count) are older than BALANCE_REFRESH_ON_OPEN_AFTER:
    the user opened the dashboard. Return how many; each one queued is marked pending on
    the object too, so the page shows it refreshing (and updates itself when it ends).

    Throttled as "Refresh now" is (its interval, in shared state): an Item whose refresh
    fails is asked again at most once per BALANCE_REFRESH_NOW_INTERVAL however often the
    page is opened. Not on demand: past a spent budget it uses cached balances. Never
    raises for the broker, the database or Redis (logged; the page shows what it has).
    Cost: no query when no Item is old; for each old one, two Redis round trips, one
    UPDATE and one publish.
    """
    after = settings.BALANCE_REFRESH_ON_OPEN_AFTER
    if after <= 0:
        return 0
    cutoff = timezone.now() - timedelta(seconds=after)
    queued = 0
    for item in items:
        if not item.is_active or item.is_refresh_pending:
            continue
        if item.last_realtime_at is not None and item.last_realtime_at >= cutoff:
            continue
        claimed = False
        try:
            if shared_state.refresh_now_wait(item.pk) > 0:
                continue
            shared_state.refresh_now_claim(item.pk)
            claimed = True
            if item_queue_refresh(item=item, realtime=True):
                queued += 1
                continue
        except (KombuOperationalError, DatabaseError, shared_state.SharedStateUnavailable):
            logger.warning("Refresh on opening the dashboard not queued", exc_info=True)
            if claimed:
                with contextlib.suppress(shared_state.SharedStateUnavailable):
                    shared_state.refresh_now_release(item.pk)
            break  # the others would fail the same way
        shared_state.refresh_now_release(item.pk)  # already pending
    return queued
