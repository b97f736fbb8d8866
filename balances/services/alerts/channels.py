"""A user's push channels (Apprise URLs, encrypted at rest) and "Send a test alert".

An Apprise URL holds the push service's credentials: it is checked (Apprise must parse
it), encrypted, and never shown back, logged or queued; pages show its service's name.
"""

from __future__ import annotations

import apprise
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from balances.models import AlertChannel, AlertDelivery, AlertMessage
from balances.services.alerts import record

MAX_CHANNELS = 20


def apprise_service(url: str) -> str:
    """Return the service name of an Apprise URL ("ntfy", "Telegram"); raise
    ValidationError when Apprise cannot parse it. Never puts the URL in the error."""
    url = url.strip()
    if not url or "://" not in url:
        raise ValidationError(
            "This is not an Apprise URL: it looks like service://… (e.g. ntfys://ntfy.sh/topic).",
            code="invalid",
        )
    plugin = apprise.Apprise.instantiate(url, suppress_exceptions=True)
    if not plugin:
        scheme = url.split("://", 1)[0][:20]
        raise ValidationError(
            f"Apprise cannot read this URL (scheme “{scheme}”): check it against the "
            f"service's page in Apprise's documentation.",
            code="invalid",
        )
    return str(getattr(plugin, "service_name", "") or url.split("://", 1)[0])[:50]


def alert_channel_add(*, user: User, name: str, url: str) -> AlertChannel:
    """Add a push channel; raise ValidationError (nothing saved) for a URL Apprise cannot
    parse or too many channels."""
    hint = apprise_service(url)
    if AlertChannel.objects.filter(owner=user).count() >= MAX_CHANNELS:
        raise ValidationError(f"You can have at most {MAX_CHANNELS} channels.", code="limit")
    channel = AlertChannel(owner=user, name=name.strip()[:100] or hint, hint=hint)
    channel.url = url.strip()
    channel.save()
    return channel


def alert_channel_delete(*, user: User, channel_id: int) -> AlertChannel | None:
    """Delete one of the user's channels; None if it is not theirs."""
    channel = AlertChannel.objects.filter(owner=user, pk=channel_id).defer("url_encrypted").first()
    if channel is not None:
        channel.delete()
    return channel


@transaction.atomic
def alert_test_send(*, user: User, channel_id: int | None) -> AlertDelivery | None:
    """Record a test message to one channel (`channel_id` None: the user's e-mail) and
    queue it on commit, like any alert. None if the channel is not the user's or the user
    has no e-mail address."""
    channel = None
    if channel_id is not None:
        channel = (
            AlertChannel.objects.filter(owner=user, pk=channel_id).defer("url_encrypted").first()
        )
        if channel is None:
            return None
    elif not user.email:
        return None
    now = timezone.now()
    message = AlertMessage.objects.create(owner=user, created_at=now, is_open=False, is_test=True)
    deliveries = record.message_deliveries_create(
        message=message,
        due=now,
        channels=[channel] if channel is not None else [],
        email=channel is None,
    )
    record.deliveries_queue(deliveries=deliveries)
    return deliveries[0] if deliveries else None
