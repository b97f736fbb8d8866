"""Fixtures of the alert tests: a real SMTP server, deliveries run in this process."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from balances import tasks
from balances.models import AlertDelivery
from balances.services.alerts import deliver
from tests.smtp import Inbox, SmtpServer


@pytest.fixture
def smtp(settings: Any) -> Iterator[Inbox]:
    """A real SMTP server (aiosmtpd) the app's mail goes to; its inbox."""
    server = SmtpServer()
    server.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = server.port
    settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    settings.EMAIL_TIMEOUT = 10
    settings.SITE_URL = "https://balances.example.com"
    settings.ALERT_GROUP_SECONDS = 0
    yield server.inbox
    server.stop()


class Queue:
    """Delivery tasks queued (their ids), run here on demand instead of by a worker."""

    def __init__(self) -> None:
        self.queued: list[int] = []

    def run(self, *, later: timedelta = timedelta(0)) -> list[str]:
        """Run every delivery queued so far, and every one waiting for a retry, as of
        `later` from now (so backoff has passed); return their outcomes."""
        ids = sorted(
            set(self.queued)
            | set(
                AlertDelivery.objects.filter(state=AlertDelivery.State.RETRYING).values_list(
                    "pk", flat=True
                )
            )
        )
        self.queued.clear()
        return [
            str(deliver.alert_delivery_send(delivery_id=pk, now=timezone.now() + later))
            for pk in ids
        ]


@pytest.fixture
def deliveries(monkeypatch: pytest.MonkeyPatch, django_capture_on_commit_callbacks: Any) -> Queue:
    queue = Queue()
    monkeypatch.setattr(
        tasks.alert_deliver,
        "apply_async",
        lambda args, countdown=0, **kw: queue.queued.append(args[0]),
    )
    return queue
