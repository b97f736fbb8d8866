"""Alerts reach a real SMTP server (aiosmtpd): once per condition, whatever the refreshes
and the server do."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal

import pytest

from balances.models import Alert, AlertDelivery, AlertRule, PlaidItem
from balances.services import refresh
from balances.services.alerts import rules
from tests.factories import PlaidItemFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def no_kept_replies(settings):
    # Many refreshes of one Item in a minute: above Plaid's per-Item limit otherwise.
    settings.PLAID_BALANCE_GET_PER_ITEM_PER_MINUTE = 1000
    refresh._kept.clear()
    yield
    refresh._kept.clear()


@pytest.fixture
def refresh_now(django_capture_on_commit_callbacks) -> Callable[[PlaidItem], str]:
    """Refresh an Item as the worker does: a lone refresh evaluates its owner's alerts."""

    def run(item: PlaidItem) -> str:
        with django_capture_on_commit_callbacks(execute=True):
            return str(refresh.item_refresh_run(item_id=item.pk))

    return run


def test_relogin_alert_arrives_exactly_once_across_failed_refreshes(
    fake_plaid, smtp, deliveries, refresh_now
):
    user = UserFactory(email="ann@example.com")
    item = PlaidItemFactory(owner=user, institution_name="First Platypus Bank")
    fake_plaid.add_item(item.access_token)
    assert refresh_now(item).startswith("ok")
    for _ in range(3):
        fake_plaid.fail_next("ITEM_LOGIN_REQUIRED")
        # A login-required Item is inactive: scheduled refreshes skip it, so each failure
        # here comes from a refresh the user asked for after a brief repair.
        PlaidItem.objects.filter(pk=item.pk).update(status=PlaidItem.Status.ERROR)
        assert refresh_now(item) == "failed: ITEM_LOGIN_REQUIRED"
        deliveries.run()
    assert len(smtp.messages) == 1
    message = smtp.messages[0]
    assert message["To"] == "ann@example.com"
    assert "First Platypus Bank needs you to log in again" in message["Subject"]
    text, html = smtp.bodies(message)
    for body in (text, html):
        assert "First Platypus Bank" in body
        assert "https://balances.example.com/connections/" in body
        assert "https://balances.example.com/settings/alerts/" in body
        assert item.access_token not in body
    assert Alert.objects.filter(owner=user).count() == 1
    assert AlertDelivery.objects.get().state == AlertDelivery.State.SENT


def test_balance_rule_fires_on_crossing_not_while_below_and_again_after_recovering(
    fake_plaid, smtp, deliveries, refresh_now
):
    user = UserFactory(email="bob@example.com")
    item = PlaidItemFactory(owner=user)
    reply = fake_plaid.add_item(item.access_token)
    checking = reply["accounts"][0]
    checking["balances"]["available"] = 500
    assert refresh_now(item).startswith("ok")
    account = item.accounts.get(plaid_account_id=checking["account_id"])
    rules.alert_rule_create(
        user=user,
        kind=AlertRule.Kind.BALANCE_BELOW,
        scope=AlertRule.Scope.ACCOUNT,
        account_id=account.pk,
        threshold=Decimal("100"),
        cooldown_hours=0,
    )

    def balance(available: int) -> None:
        checking["balances"]["available"] = available
        assert refresh_now(item).startswith("ok")
        deliveries.run()

    balance(400)
    assert smtp.messages == []  # above the line
    balance(90)  # crosses
    assert len(smtp.messages) == 1
    text, html = smtp.bodies(smtp.messages[0])
    assert "90.00 USD" in text and "100.00 USD" in text and account.name in text
    assert f"https://balances.example.com/accounts/{account.pk}/" in text
    assert f"https://balances.example.com/accounts/{account.pk}/" in html
    balance(80)  # still below: nothing new
    balance(50)
    assert len(smtp.messages) == 1
    balance(150)  # recovers: re-armed, nothing sent
    assert len(smtp.messages) == 1
    balance(70)  # falls again
    assert len(smtp.messages) == 2
    assert "70.00 USD" in smtp.bodies(smtp.messages[1])[0]


def test_smtp_refusing_then_accepting_delivers_once_with_the_state_shown(
    fake_plaid, smtp, deliveries, refresh_now
):
    user = UserFactory(email="cy@example.com")
    item = PlaidItemFactory(owner=user, institution_name="Quokka Credit Union")
    fake_plaid.add_item(item.access_token)
    smtp.refuse_next(2)
    fake_plaid.fail_next("ITEM_LOGIN_REQUIRED")
    assert refresh_now(item) == "failed: ITEM_LOGIN_REQUIRED"

    assert deliveries.run() != []
    delivery = AlertDelivery.objects.get()
    assert delivery.state == AlertDelivery.State.RETRYING
    assert "451" in delivery.last_error and "Try again later" in delivery.last_error
    assert smtp.messages == []
    deliveries.run(later=timedelta(hours=2))
    assert AlertDelivery.objects.get().state == AlertDelivery.State.RETRYING
    deliveries.run(later=timedelta(hours=4))
    delivery.refresh_from_db()
    assert delivery.state == AlertDelivery.State.SENT and delivery.last_error == ""
    assert delivery.attempts == 3
    assert smtp.refused == 2 and len(smtp.messages) == 1
    # Sent deliveries are never sent again, whoever runs them.
    deliveries.queued.append(delivery.pk)
    assert deliveries.run(later=timedelta(hours=6)) == ["skipped: already done"]
    assert len(smtp.messages) == 1


def test_a_delivery_that_keeps_failing_is_failed_with_the_reason(
    fake_plaid, smtp, deliveries, settings, refresh_now
):
    settings.ALERT_DELIVERY_MAX_RETRIES = 2
    user = UserFactory(email="di@example.com")
    item = PlaidItemFactory(owner=user)
    fake_plaid.add_item(item.access_token)
    smtp.refuse_next(10)
    fake_plaid.fail_next("ITEM_LOGIN_REQUIRED")
    refresh_now(item)
    for hours in (0, 3, 6, 9):
        deliveries.run(later=timedelta(hours=hours))
    delivery = AlertDelivery.objects.get()
    assert delivery.state == AlertDelivery.State.FAILED
    assert delivery.attempts == 3 and "451" in delivery.last_error
    assert smtp.messages == []


def test_a_test_alert_by_e_mail_reaches_the_users_address(
    smtp, deliveries, client, django_capture_on_commit_callbacks
):
    user = UserFactory(email="tess@example.com")
    client.force_login(user)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/settings/alerts/email/test/", follow=True)
    assert "Test e-mail queued to tess@example.com" in response.content.decode()
    assert deliveries.run() == ["sent"]
    (message,) = smtp.messages
    assert message["To"] == "tess@example.com"
    assert "test alert" in message["Subject"]
    text, html = smtp.bodies(message)
    assert "https://balances.example.com/settings/alerts/" in text
    assert "https://balances.example.com/settings/alerts/" in html
    # Without an address: told so, nothing queued.
    client.force_login(UserFactory(email=""))
    response = client.post("/settings/alerts/email/test/", follow=True)
    assert "Your account has no e-mail address" in response.content.decode()
    assert deliveries.run() == []
    assert AlertDelivery.objects.count() == 1
