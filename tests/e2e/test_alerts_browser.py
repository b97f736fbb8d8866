"""Alerts in the machine's headless Chromium: add a balance alert in Settings → Alerts (a
bad value is refused with its message and saves nothing), then an alert that fired shows
in the header's unread count and on the Notifications page."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from balances.models import Alert, AlertRule
from balances.services.alerts import evaluate
from tests.e2e.dashboard_data import PASSWORD
from tests.e2e.test_dashboard_browser import log_in
from tests.factories import AccountFactory, PlaidItemFactory, UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_add_a_rule_then_read_the_alert_it_fires(browser: Any, live_server: Any) -> None:
    user = UserFactory(username="wallaby", password=PASSWORD, email="")
    item = PlaidItemFactory(owner=user, institution_name="Platypus Bank")
    account = AccountFactory(
        item=item,
        name="Everyday",
        mask="0042",
        available=Decimal("80.00"),
        current=Decimal("80.00"),
    )
    page = log_in(browser, live_server, user.username)

    page.goto(f"{live_server.url}/settings/")
    page.get_by_role("link", name="Alert settings").click()
    rules = page.get_by_role("region", name="Balance alerts")
    rules.get_by_label("Alert me when").select_option("drop_percent")
    rules.get_by_label("For", exact=True).select_option("account")
    rules.get_by_label("Account", exact=True).select_option(str(account.pk))
    rules.get_by_label("Amount or percentage").fill("-5")
    rules.get_by_role("button", name="Add alert").click()
    assert "A percentage cannot be negative." in rules.inner_text()
    assert not AlertRule.objects.filter(owner=user).exists()

    rules.get_by_label("Alert me when").select_option("balance_below")
    rules.get_by_label("For", exact=True).select_option("account")
    rules.get_by_label("Account", exact=True).select_option(str(account.pk))
    rules.get_by_label("Amount or percentage").fill("100")
    rules.get_by_label("Stay quiet after an alert for (hours)").fill("24")
    rules.get_by_role("button", name="Add alert").click()
    rule = AlertRule.objects.get(owner=user)
    assert rule.kind == AlertRule.Kind.BALANCE_BELOW and rule.threshold == Decimal(100)
    assert "No balance alerts yet." not in page.content()
    assert page.locator(".alert-rule").count() == 1

    # The worker evaluates after a refresh; here the test evaluates (80.00 < 100.00).
    assert evaluate.user_alerts_evaluate(user_id=user.pk) == 1
    alert = Alert.objects.get(owner=user)
    page.goto(f"{live_server.url}/")
    badge = page.get_by_role("navigation", name="Account").locator(".badge")
    assert badge.inner_text().strip() == "1" and badge.get_attribute("aria-label") == "1 unread"
    page.get_by_role("link", name="Notifications").click()
    assert alert.title in page.content() and "Everyday" in alert.title
    assert page.problems == []
