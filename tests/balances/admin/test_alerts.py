"""The alerts admin: each alert with its delivery state; deliveries with the reason of a
failure; never a push channel's URL."""

import pytest
from django.urls import reverse
from django.utils import timezone

from balances.models import Alert, AlertDelivery, AlertMessage
from balances.services.alerts import channels
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_alerts_and_deliveries_show_their_state_and_never_the_url(admin_client):
    user = UserFactory()
    channel = channels.alert_channel_add(
        user=user, name="Phone", url="json://127.0.0.1:9/admin-must-not-see-this"
    )
    now = timezone.now()
    message = AlertMessage.objects.create(owner=user, created_at=now, is_open=False)
    AlertDelivery.objects.create(
        message=message,
        channel=channel,
        target="Phone (JSON)",
        state=AlertDelivery.State.RETRYING,
        last_error="JSON: connection refused",
        next_attempt_at=now,
    )
    alert = Alert.objects.create(
        owner=user,
        message=message,
        key="k",
        title="Wallaby Bank needs you",
        text="t",
        link="/connections/",
        link_label="Reconnect",
        created_at=now,
    )
    listing = admin_client.get(reverse("admin:balances_alert_changelist")).content.decode()
    assert "Wallaby Bank needs you" in listing and "Phone (JSON): Retrying" in listing
    pages = [
        admin_client.get(reverse("admin:balances_alert_change", args=[alert.pk])),
        admin_client.get(reverse("admin:balances_alertdelivery_changelist")),
    ]
    for page in pages:
        assert page.status_code == 200
        assert "admin-must-not-see-this" not in page.content.decode()
    assert "connection refused" in pages[1].content.decode()
    assert admin_client.get(reverse("admin:balances_alert_add")).status_code == 403
