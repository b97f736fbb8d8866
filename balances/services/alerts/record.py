"""Record fired alerts before anything is sent, and queue their delivery on commit.

The alerts of one user within ALERT_GROUP_SECONDS (one refresh cycle: every Item of the
user refreshed by one fan-out) join one open AlertMessage; its deliveries (e-mail, each
enabled push channel) are recorded with it and queued to run when the window ends. A
queue that fails (the broker down) or a worker killed before queueing loses nothing: the
deliveries are rows, and beat's sweep queues the ones overdue (`sweep.py`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, timedelta
from functools import partial

from django.conf import settings
from django.contrib.auth.models import User
from django.db import transaction
from kombu.exceptions import OperationalError as KombuOperationalError

from balances.models import Alert, AlertChannel, AlertDelivery, AlertMessage, AlertSettings
from balances.services.alerts.condition import Condition

logger = logging.getLogger(__name__)


def alerts_record(*, user_id: int, fired: Sequence[Condition], now: datetime) -> AlertMessage:
    """Record `fired` as Alerts of the user's open message (a new one if none is open).

    Run inside the caller's transaction (which holds the user's lock). A new message gets
    one delivery per channel, queued on commit to run when the grouping window ends.
    """
    window = timedelta(seconds=settings.ALERT_GROUP_SECONDS)
    message = (
        AlertMessage.objects.select_for_update()
        .filter(owner_id=user_id, is_open=True, is_test=False, created_at__gte=now - window)
        .order_by("-created_at")
        .first()
    )
    new = message is None
    if message is None:
        message = AlertMessage.objects.create(owner_id=user_id, created_at=now)
    Alert.objects.bulk_create(
        [
            Alert(
                owner_id=user_id,
                message=message,
                rule_id=c.rule_id,
                item_id=c.item_id,
                account_id=c.account_id,
                key=c.key,
                title=c.title[:200],
                text=c.text,
                link=c.link,
                link_label=c.link_label,
                created_at=now,
            )
            for c in fired
        ]
    )
    if new:
        deliveries = message_deliveries_create(
            message=message, due=now + window, channels=None, email=None
        )
        if not deliveries:
            # Nowhere to send it: the Notifications page lists it; nothing joins it later.
            AlertMessage.objects.filter(pk=message.pk).update(is_open=False)
        deliveries_queue(deliveries=deliveries, countdown=settings.ALERT_GROUP_SECONDS)
    return message


def message_deliveries_create(
    *,
    message: AlertMessage,
    due: datetime,
    channels: Sequence[AlertChannel] | None,
    email: bool | None,
) -> list[AlertDelivery]:
    """Record the message's deliveries: by e-mail when the user wants it and has an
    address (`email` None: their setting), and one per push channel (`channels` None: their
    enabled ones)."""
    user = User.objects.only("pk", "email").get(pk=message.owner_id)
    if email is None:
        prefs = AlertSettings.objects.filter(user=user).first()
        email = prefs.email if prefs is not None else True
    if channels is None:
        channels = list(
            AlertChannel.objects.filter(owner=user, enabled=True).defer("url_encrypted")
        )
    rows = []
    if email and user.email:
        rows.append(
            AlertDelivery(
                message=message,
                email=user.email,
                target=f"e-mail to {user.email}"[:300],
                next_attempt_at=due,
            )
        )
    for channel in channels:
        rows.append(
            AlertDelivery(
                message=message,
                channel=channel,
                target=f"{channel.name} ({channel.hint})"[:300],
                next_attempt_at=due,
            )
        )
    return AlertDelivery.objects.bulk_create(rows)


def deliveries_queue(*, deliveries: Sequence[AlertDelivery], countdown: float = 0) -> None:
    """Queue the delivery task of each (its id only) when the transaction commits.

    A broker that cannot be reached is logged, not raised: the delivery is recorded, and
    beat's sweep queues it again once it is overdue.
    """
    for delivery in deliveries:
        transaction.on_commit(partial(_publish, delivery.pk, countdown))


def _publish(delivery_id: int, countdown: float) -> None:
    from balances import tasks  # tasks sit above the services (see module docstring)

    try:
        tasks.alert_deliver.apply_async(args=(delivery_id,), countdown=countdown)
    except KombuOperationalError:
        logger.warning(
            "Alert delivery %s not queued (broker unreachable); the sweep queues it",
            delivery_id,
            exc_info=True,
        )


def user_alerts_queue(*, user_id: int) -> None:
    """Queue an evaluation of the user's alerts in the worker, when the transaction
    commits (a webhook changed one of their Items: evaluated there, never in the request).

    Raises kombu's OperationalError when the broker is unreachable, like queueing a
    refresh: the webhook is answered 503 and Plaid delivers it again.
    """
    from balances import tasks  # tasks sit above the services (see module docstring)

    transaction.on_commit(partial(tasks.alerts_evaluate.delay, user_id))
