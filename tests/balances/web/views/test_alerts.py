"""Notifications and Settings → Alerts: lists, unread count, read/unread, rules and channels
forms (bad input: a clear error, status 400, nothing saved), test alerts."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from balances.models import Alert, AlertChannel, AlertDelivery, AlertMessage, AlertRule
from tests.factories import AccountFactory, PlaidItemFactory
from tests.helpers import body

pytestmark = pytest.mark.django_db


def make_alert(user: Any, title: str = "Wombat Bank needs you to log in again") -> Alert:
    when = datetime(2026, 5, 1, tzinfo=UTC)
    message = AlertMessage.objects.create(owner=user, created_at=when, is_open=False)
    AlertDelivery.objects.create(
        message=message,
        target=f"e-mail to {user.email}",
        state=AlertDelivery.State.FAILED,
        last_error="the mail server refused it: 550 no such user",
        next_attempt_at=when,
    )
    return Alert.objects.create(
        owner=user,
        message=message,
        key="item:1:login",
        title=title,
        text="Log in again.",
        link="/connections/",
        link_label="Reconnect",
        created_at=when,
    )


def test_notifications_list_alerts_with_delivery_state_and_the_header_counts_unread(
    client: Any, user: Any
) -> None:
    alert = make_alert(user)
    page = body(client.get("/notifications/"))
    assert "Wombat Bank needs you to log in again" in page
    assert "failed" in page and "550 no such user" in page
    assert 'aria-label="1 unread"' in page
    assert client.post(f"/notifications/{alert.pk}/read/").status_code == 302
    alert.refresh_from_db()
    assert alert.read_at is not None
    assert 'aria-label="1 unread"' not in body(client.get("/"))
    client.post(f"/notifications/{alert.pk}/read/", {"unread": "1"})
    alert.refresh_from_db()
    assert alert.read_at is None
    client.post("/notifications/read/")
    alert.refresh_from_db()
    assert alert.read_at is not None


def test_notifications_of_another_user_are_404(client: Any, user: Any) -> None:
    other = make_alert(PlaidItemFactory().owner)
    assert client.post(f"/notifications/{other.pk}/read/").status_code == 404


@pytest.mark.parametrize(
    ("data", "field", "error"),
    [
        (
            {"kind": "drop_percent", "scope": "all", "threshold": "-5"},
            "threshold",
            "A percentage cannot be negative.",
        ),
        (
            {"kind": "balance_below", "scope": "account", "account": "999999", "threshold": "5"},
            "account",
            "There is no such account among yours.",
        ),
        (
            {"kind": "balance_below", "scope": "all", "threshold": "abc", "currency": "USD"},
            "threshold",
            "Enter a number.",
        ),
    ],
)
def test_bad_rules_get_a_clear_error_and_save_nothing(
    client: Any, user: Any, data: dict[str, str], field: str, error: str
) -> None:
    form = {"balance": "available", "cooldown_hours": "24", "currency": "", **data}
    response = client.post("/settings/alerts/rules/add/", form)
    assert response.status_code == 400
    assert error in response.context["rule_form"].errors[field]
    assert error in body(response)
    assert not AlertRule.objects.exists()


def test_a_rule_in_a_currency_the_account_does_not_have_is_refused(client: Any, user: Any) -> None:
    account = AccountFactory(item=PlaidItemFactory(owner=user), iso_currency_code="EUR")
    response = client.post(
        "/settings/alerts/rules/add/",
        {
            "kind": "balance_below",
            "scope": "account",
            "account": account.pk,
            "threshold": "5",
            "currency": "USD",
            "balance": "available",
            "cooldown_hours": "24",
        },
    )
    assert response.status_code == 400
    assert "is in EUR, not USD" in body(response)
    assert not AlertRule.objects.exists()


def test_a_good_rule_is_saved_listed_and_deleted(client: Any, user: Any) -> None:
    account = AccountFactory(item=PlaidItemFactory(owner=user), name="Everyday")
    response = client.post(
        "/settings/alerts/rules/add/",
        {
            "kind": "balance_below",
            "scope": "account",
            "account": account.pk,
            "threshold": "100",
            "currency": "",
            "balance": "available",
            "cooldown_hours": "12",
        },
    )
    assert response.status_code == 302
    rule = AlertRule.objects.get(owner=user)
    page = body(client.get("/settings/alerts/"))
    assert "Everyday" in page and "100 USD" in page
    assert client.post(f"/settings/alerts/rules/{rule.pk}/delete/").status_code == 302
    assert not AlertRule.objects.exists()


def test_a_channel_url_that_does_not_parse_is_refused(client: Any, user: Any) -> None:
    response = client.post(
        "/settings/alerts/channels/add/", {"name": "x", "url": "bogus://abc/def"}
    )
    assert response.status_code == 400
    assert "Apprise cannot read this URL" in body(response)
    assert not AlertChannel.objects.exists()


def test_a_channel_url_is_never_shown_back(client: Any, user: Any, monkeypatch: Any) -> None:
    url = "ntfys://ntfy.sh/topic-only-i-know-42"
    response = client.post("/settings/alerts/channels/add/", {"name": "Phone", "url": url})
    assert response.status_code == 302
    channel = AlertChannel.objects.get(owner=user)
    from balances import tasks

    monkeypatch.setattr(tasks.alert_deliver, "apply_async", lambda *a, **k: None)
    client.post(f"/settings/alerts/channels/{channel.pk}/test/")
    page = body(client.get("/settings/alerts/"))
    assert "Phone" in page and "ntfy" in page
    assert "topic-only-i-know-42" not in page
    assert AlertDelivery.objects.get().target == "Phone (ntfy)"


def test_choices_are_saved(client: Any, user: Any) -> None:
    response = client.post("/settings/alerts/", {"revoked": "on", "email": "on"})
    assert response.status_code == 302
    prefs = user.alert_settings
    assert prefs.revoked and prefs.email and not prefs.login_required
