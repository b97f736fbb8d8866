"""End to end: a real Celery worker evaluates alerts after a refresh and mails them through
a real SMTP server (aiosmtpd); a worker killed between recording and sending loses nothing."""

import os
import signal
import uuid

import pytest

from balances.models import Alert, AlertDelivery, PlaidItem
from balances.services import linking
from tests.e2e.conftest import emulator_post, manage, wait_for
from tests.factories import UserFactory
from tests.smtp import SmtpServer

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

BALANCE = "/accounts/balance/get"


@pytest.fixture
def smtp_server():
    server = SmtpServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def alert_env(settings, process_env, redis_url, smtp_server):
    prefix = f"test-{uuid.uuid4().hex[:12]}"
    settings.THROTTLE_REDIS_URL = redis_url
    settings.THROTTLE_KEY_PREFIX = prefix
    process_env.update(
        THROTTLE_REDIS_URL=redis_url,
        THROTTLE_KEY_PREFIX=prefix,
        EMAIL_URL=smtp_server.url,
        SITE_URL="https://balances.example.com",
        # No grouping: one message per evaluation that fires (so a second would show).
        ALERT_GROUP_SECONDS="0",
        ALERT_RETRY_BASE_SECONDS="0.5",
        ALERT_RETRY_CAP_SECONDS="1",
        # A task of a dead worker comes back after 3 s; its claim on the delivery ends at 4 s.
        CELERY_VISIBILITY_TIMEOUT="3",
        ALERT_SEND_CLAIM_SECONDS="4",
    )
    return process_env


def relogin_needed(emulator, username):
    user = UserFactory(username=username, email=f"{username}@example.com")
    item = linking.item_link_sandbox(user=user, institution_id="ins_3", queue_refresh=False)
    emulator_post(
        emulator,
        "/emulator/faults",
        {"error_code": "ITEM_LOGIN_REQUIRED", "item_id": item.plaid_item_id, "count": 1},
    )
    return user, item


def test_the_worker_mails_the_relogin_alert_after_a_failed_refresh(
    emulator, alert_env, start_worker, smtp_server
):
    _user, item = relogin_needed(emulator, "fay")
    start_worker("w1", env=alert_env)
    assert manage(alert_env, "refresh_balances", "--user", "fay").returncode == 0
    assert wait_for(lambda: len(smtp_server.inbox.messages) == 1), "no alert was mailed"
    item.refresh_from_db()
    assert item.status == PlaidItem.Status.LOGIN_REQUIRED
    message = smtp_server.inbox.messages[0]
    assert message["To"] == "fay@example.com"
    assert "Chase needs you to log in again" in message["Subject"]
    text, html = smtp_server.inbox.bodies(message)
    assert all("https://balances.example.com/connections/" in body for body in (text, html))
    assert wait_for(lambda: AlertDelivery.objects.filter(state="sent").count() == 1)


def test_two_banks_failing_in_one_refresh_cycle_are_mailed_in_one_message(
    emulator, alert_env, start_worker, smtp_server
):
    user, first = relogin_needed(emulator, "hal")
    # A second bank (linked by another user: one user cannot link a bank twice), given to hal.
    _linker, second = relogin_needed(emulator, "hal-linker")
    PlaidItem.objects.filter(pk=second.pk).update(owner=user, institution_name="Second Chase")
    start_worker("w1", env=alert_env)
    assert manage(alert_env, "refresh_balances", "--user", "hal").returncode == 0
    assert wait_for(lambda: len(smtp_server.inbox.messages) >= 1), "no alert was mailed"
    assert wait_for(lambda: Alert.objects.filter(owner=user).count() == 2)
    # One evaluation for both refreshes: no second message comes.
    assert not wait_for(lambda: len(smtp_server.inbox.messages) > 1, timeout=5)
    text, _html = smtp_server.inbox.bodies(smtp_server.inbox.messages[0])
    assert "Chase needs you to log in again" in text
    assert "Second Chase needs you to log in again" in text
    assert {first.pk, second.pk} == set(
        PlaidItem.objects.filter(owner=user, status=PlaidItem.Status.LOGIN_REQUIRED).values_list(
            "pk", flat=True
        )
    )


def test_a_worker_killed_between_record_and_send_delivers_after_restart(
    emulator, alert_env, start_worker, smtp_server
):
    user, _item = relogin_needed(emulator, "gus")
    inbox = smtp_server.inbox
    inbox.hold()  # the first message waits, unanswered, while the worker sends it
    doomed = start_worker("doomed", env=alert_env)
    assert manage(alert_env, "refresh_balances", "--user", "gus").returncode == 0
    assert wait_for(inbox.holding.is_set), "the worker never started sending"
    # Recorded before sending: the alert and its delivery exist, not sent.
    assert Alert.objects.filter(owner=user).count() == 1
    assert AlertDelivery.objects.get().state == AlertDelivery.State.PENDING
    os.kill(doomed.pid, signal.SIGKILL)
    doomed.wait(10)
    inbox.release(accept=False)  # the dead worker's message never made it
    assert inbox.messages == []

    start_worker("survivor", env=alert_env)
    assert wait_for(lambda: len(inbox.messages) == 1, timeout=60), (
        "the killed worker's delivery was not sent after the restart"
    )
    assert wait_for(lambda: AlertDelivery.objects.get().state == AlertDelivery.State.SENT)
    delivery = AlertDelivery.objects.get()
    assert delivery.attempts == 2
    assert len(inbox.messages) == 1
    assert Alert.objects.filter(owner=user).count() == 1
