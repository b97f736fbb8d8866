"""Send one AlertDelivery: e-mail through Django's mail (EMAIL_URL), push through Apprise.

Contract: a delivery is sent at least once and at most twice. The task claims it with a
compare-and-set (`claimed_until`, ALERT_SEND_CLAIM_SECONDS), so two tasks of one delivery
(a redelivered task and one queued by the sweep) never send it at once; it is marked sent
after the server accepted it. A worker killed between the two sends it again when the
task is delivered again after the claim ran out: the one duplicate allowed. A failure
(SMTP refusing, a push service down) is recorded with its reason, and the task retries
with backoff (ALERT_RETRY_BASE_SECONDS * 2**n, capped); after ALERT_DELIVERY_MAX_RETRIES
retries the delivery is failed.
"""

from __future__ import annotations

import logging
import random
import smtplib
from dataclasses import dataclass
from datetime import datetime, timedelta

import apprise
from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db.models import F, Q
from django.utils import timezone

from balances.models import AlertChannel, AlertDelivery, AlertMessage
from balances.services.alerts.render import Content, message_content

logger = logging.getLogger(__name__)


class SendError(Exception):
    """The server or service did not take the message; str() is the reason users read."""


@dataclass(frozen=True, slots=True)
class DeliveryRun:
    outcome: str  # sent, retrying, failed, skipped, busy
    retry_in: float | None = None
    detail: str = ""

    def __str__(self) -> str:
        return f"{self.outcome}: {self.detail}" if self.detail else self.outcome


def retry_delay(attempt: int) -> float:
    """Seconds before retry number `attempt` (1, 2, ...): exponential, capped, jittered."""
    base = float(settings.ALERT_RETRY_BASE_SECONDS)
    ceiling = min(float(settings.ALERT_RETRY_CAP_SECONDS), base * 2 ** (attempt - 1))
    return random.uniform(ceiling / 2, ceiling)  # noqa: S311 (jitter, not security)


def alert_delivery_send(*, delivery_id: int, now: datetime | None = None) -> DeliveryRun:
    """Claim the delivery and send it once; record sent, retrying or failed (with reason).

    Returns when to run again (`retry_in`): after a failure with retries left, or when
    another worker holds the claim. Sent, failed and deleted deliveries are skipped.
    Cost: two UPDATEs and three reads around the send.
    """
    now = now or timezone.now()
    claim_until = now + timedelta(seconds=settings.ALERT_SEND_CLAIM_SECONDS)
    claimed = (
        AlertDelivery.objects.filter(pk=delivery_id, state__in=AlertDelivery.UNSENT_STATES)
        .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lte=now))
        .update(claimed_until=claim_until, attempts=F("attempts") + 1)
    )
    if not claimed:
        delivery = AlertDelivery.objects.filter(pk=delivery_id).first()
        if delivery is None or delivery.state not in AlertDelivery.UNSENT_STATES:
            return DeliveryRun("skipped", detail="already done" if delivery else "gone")
        # Another worker is sending it (or died doing so): look again when its claim ends.
        left = (delivery.claimed_until - now).total_seconds() if delivery.claimed_until else 0
        return DeliveryRun("busy", retry_in=max(1.0, left + 1))
    delivery = AlertDelivery.objects.select_related("message", "channel").get(pk=delivery_id)
    # The first delivery of a message closes it: alerts recorded from now go to a new one.
    AlertMessage.objects.filter(pk=delivery.message_id, is_open=True).update(is_open=False)
    alerts = list(delivery.message.alerts.order_by("pk"))
    content = message_content(alerts=alerts, test=delivery.message.is_test)
    try:
        if delivery.email:
            _send_email(delivery.email, content)
        elif delivery.channel is None:
            raise SendError("the push channel was removed")
        else:
            _send_push(delivery.channel, content)
    except SendError as exc:
        return _failed(delivery, str(exc), timezone.now())
    AlertDelivery.objects.filter(pk=delivery.pk).update(
        state=AlertDelivery.State.SENT,
        sent_at=timezone.now(),
        last_error="",
        claimed_until=None,
        updated_at=timezone.now(),
    )
    logger.info("Alert delivery %s sent (%d alert(s))", delivery.pk, len(alerts))
    return DeliveryRun("sent")


def _failed(delivery: AlertDelivery, reason: str, now: datetime) -> DeliveryRun:
    reason = reason[:500]
    retries_done = delivery.attempts - 1
    channel_removed = not delivery.email and delivery.channel_id is None
    if retries_done >= settings.ALERT_DELIVERY_MAX_RETRIES or channel_removed:
        AlertDelivery.objects.filter(pk=delivery.pk).update(
            state=AlertDelivery.State.FAILED,
            last_error=reason,
            claimed_until=None,
            updated_at=now,
        )
        logger.warning("Alert delivery %s failed for good: %s", delivery.pk, reason)
        return DeliveryRun("failed", detail=reason)
    delay = retry_delay(delivery.attempts)
    AlertDelivery.objects.filter(pk=delivery.pk).update(
        state=AlertDelivery.State.RETRYING,
        last_error=reason,
        next_attempt_at=now + timedelta(seconds=delay),
        claimed_until=None,
        updated_at=now,
    )
    logger.warning("Alert delivery %s failed (%s); retrying in %.0f s", delivery.pk, reason, delay)
    return DeliveryRun("retrying", retry_in=delay, detail=reason)


def _send_email(address: str, content: Content) -> None:
    mail = EmailMultiAlternatives(
        subject=content.subject,
        body=content.text,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[address],
    )
    mail.attach_alternative(content.html, "text/html")
    try:
        mail.send(fail_silently=False)
    except smtplib.SMTPResponseException as exc:
        text = (
            exc.smtp_error.decode(errors="replace")
            if isinstance(exc.smtp_error, bytes)
            else str(exc.smtp_error)
        )
        raise SendError(f"the mail server refused it: {exc.smtp_code} {text}") from exc
    except smtplib.SMTPRecipientsRefused as exc:
        raise SendError(f"the mail server refused the address {address}") from exc
    except (smtplib.SMTPException, OSError) as exc:
        raise SendError(f"the mail server could not be reached: {exc}") from exc


def _send_push(channel: AlertChannel, content: Content) -> None:
    """Send through the channel's Apprise URL; the reason of a failure is Apprise's
    warning with the URL removed (it is a secret)."""
    url = channel.url
    notifier = apprise.Apprise()
    if not notifier.add(url):
        raise SendError("Apprise no longer understands this channel's URL")
    with apprise.LogCapture(level=logging.WARNING) as output:
        ok = notifier.notify(
            title=content.subject, body=content.text, body_format=apprise.NotifyFormat.TEXT
        )
    if not ok:
        lines = [line for line in output.getvalue().splitlines() if line.strip()]
        reason = lines[-1].split(" - ", 2)[-1] if lines else "the service did not accept it"
        raise SendError(f"{channel.hint}: {scrub(reason, url)}")


def scrub(text: str, secret: str) -> str:
    """Return `text` without `secret` or the parts of it that name credentials."""
    text = text.replace(secret, "[channel URL]")
    _, _, rest = secret.partition("://")
    for part in rest.replace("@", "/").replace(":", "/").split("/"):
        if len(part) >= 6:
            text = text.replace(part, "…")
    return text
