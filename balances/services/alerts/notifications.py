"""The Notifications page's writes: mark alerts read or unread."""

from __future__ import annotations

from django.contrib.auth.models import User
from django.utils import timezone

from balances.models import Alert


def alert_mark(*, user: User, alert_id: int, read: bool = True) -> Alert | None:
    """Mark one of the user's alerts read (or unread); None if it is not theirs."""
    alert = Alert.objects.filter(owner=user, pk=alert_id).first()
    if alert is None:
        return None
    alert.read_at = timezone.now() if read else None
    alert.save(update_fields=["read_at"])
    return alert


def alerts_mark_all_read(*, user: User) -> int:
    """Mark every unread alert of the user read; return how many."""
    return Alert.objects.filter(owner=user, read_at__isnull=True).update(read_at=timezone.now())
