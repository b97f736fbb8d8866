"""Mark, keep and end an Item's pending refresh: `PlaidItem.refresh_requested_at`.

The one record of "a refresh is queued or running": the queue refuses a second refresh of
a pending Item, the dashboard shows it as refreshing. Whether an Item is pending is one
rule, `PlaidItem.is_refresh_pending`, which `PlaidItemQuerySet.not_refresh_pending`
states in SQL. Marking is a compare-and-set (one conditional UPDATE, atomic on every
database), so two processes can never both mark one Item; no lock, no Redis.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone

from balances.models import PlaidItem

# A mark kept for a retry stays valid this long after the retry is due.
RETRY_MARGIN_SECONDS = 60.0


def item_pending_mark(
    *, item_id: int, not_refreshed_since: datetime | None = None
) -> datetime | None:
    """Mark the Item's refresh pending unless it already is (or the Item is inactive, or,
    with `not_refreshed_since`, it was refreshed since then); return the mark's time, or
    None when it was not marked. One UPDATE: the checks and the mark are one statement."""
    now = timezone.now()
    items = PlaidItem.objects.filter(pk=item_id).active().not_refresh_pending(now)
    if not_refreshed_since is not None:
        items = items.exclude(last_refreshed_at__gte=not_refreshed_since)
    marked = items.update(refresh_requested_at=now)
    return now if marked else None


def item_pending_keep(*, item_id: int, seconds: float) -> None:
    """Keep the Item pending until a retry `seconds` from now has run (and a margin):
    the mark is renewed, so its BALANCE_REFRESH_PENDING_TTL runs from now. One UPDATE."""
    ttl = float(settings.BALANCE_REFRESH_PENDING_TTL)
    ahead = max(0.0, seconds + RETRY_MARGIN_SECONDS - ttl)
    PlaidItem.objects.filter(pk=item_id).update(
        refresh_requested_at=timezone.now() + timedelta(seconds=ahead)
    )


def items_pending_end(*, item_ids: Iterable[int]) -> None:
    """End the Items' pending refresh (it finished, failed, or was never queued): they may
    be queued again. One UPDATE."""
    PlaidItem.objects.filter(pk__in=list(item_ids)).exclude(refresh_requested_at=None).update(
        refresh_requested_at=None
    )
