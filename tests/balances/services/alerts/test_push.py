"""Push through Apprise to a real HTTP endpoint (Apprise's json:// posts the message)."""

import contextlib
import json
import logging
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from django.core.exceptions import ValidationError

from balances.models import AlertDelivery
from balances.services.alerts import channels
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


class Endpoint:
    def __init__(self) -> None:
        self.received: list[dict] = []
        self.status = 200
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                outer.received.append(json.loads(body))
                self.send_response(outer.status)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def endpoint():
    ep = Endpoint()
    yield ep
    ep.server.shutdown()


def test_a_test_alert_reaches_the_push_service_and_is_marked_sent(
    endpoint, deliveries, django_capture_on_commit_callbacks
):
    user = UserFactory()
    channel = channels.alert_channel_add(
        user=user, name="Phone", url=f"json://127.0.0.1:{endpoint.port}/hook-secret-path"
    )
    with django_capture_on_commit_callbacks(execute=True):
        delivery = channels.alert_test_send(user=user, channel_id=channel.pk)
    assert delivery is not None and delivery.target == "Phone (JSON)"
    assert deliveries.run() == ["sent"]
    assert len(endpoint.received) == 1
    assert "test alert" in endpoint.received[0]["title"]
    assert (
        "https://" in endpoint.received[0]["message"] or "http" in endpoint.received[0]["message"]
    )


def test_a_failing_push_service_is_retried_with_a_reason_that_hides_the_url(
    endpoint, deliveries, django_capture_on_commit_callbacks
):
    endpoint.status = 500
    user = UserFactory()
    channel = channels.alert_channel_add(
        user=user, name="Phone", url=f"json://127.0.0.1:{endpoint.port}/hook-secret-path"
    )
    with django_capture_on_commit_callbacks(execute=True):
        channels.alert_test_send(user=user, channel_id=channel.pk)
    outcome = deliveries.run()
    delivery = AlertDelivery.objects.get()
    assert outcome[0].startswith("retrying")
    assert delivery.state == AlertDelivery.State.RETRYING
    assert delivery.last_error.startswith("JSON:")
    assert "hook-secret-path" not in delivery.last_error
    assert len(endpoint.received) == 1


class Lines(logging.Handler):
    """What a handler of the app's (on the root logger) is given."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(f"{record.name} {record.getMessage()}")


def test_apprise_never_logs_the_channel_url(
    endpoint, deliveries, django_capture_on_commit_callbacks, capfd
):
    # Apprise's records name the URL (a failed send names ntfy's topic; its debug lines the
    # whole address), and so do urllib3's debug lines: none reaches the app's handlers, at
    # any LOG_LEVEL.
    root, seen = logging.getLogger(), Lines()
    level = root.level
    root.setLevel(logging.DEBUG)
    root.addHandler(seen)
    try:
        endpoint.status = 500
        user = UserFactory()
        channel = channels.alert_channel_add(
            user=user, name="Phone", url=f"json://127.0.0.1:{endpoint.port}/hook-secret-path"
        )
        with django_capture_on_commit_callbacks(execute=True):
            channels.alert_test_send(user=user, channel_id=channel.pk)
        assert deliveries.run()[0].startswith("retrying")
        with contextlib.suppress(ValidationError):  # the form's check of a malformed address
            channels.apprise_service("json://hook-secret-path:no-port/")
    finally:
        root.removeHandler(seen)
        root.setLevel(level)
    assert any("Alert delivery" in line for line in seen.lines)  # the app's own record
    out, err = capfd.readouterr()
    for text in ("\n".join(seen.lines), out, err):
        assert "hook-secret-path" not in text


def test_a_delivery_to_a_removed_channel_fails_at_once(
    endpoint, deliveries, django_capture_on_commit_callbacks
):
    user = UserFactory()
    channel = channels.alert_channel_add(
        user=user, name="Phone", url=f"json://127.0.0.1:{endpoint.port}/x"
    )
    with django_capture_on_commit_callbacks(execute=True):
        channels.alert_test_send(user=user, channel_id=channel.pk)
    channels.alert_channel_delete(user=user, channel_id=channel.pk)
    assert deliveries.run() == ["failed: the push channel was removed"]
    assert AlertDelivery.objects.get().state == AlertDelivery.State.FAILED
    assert endpoint.received == []
