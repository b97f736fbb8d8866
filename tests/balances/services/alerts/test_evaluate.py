"""`evaluate`: each kind of condition, firing once, re-arming, cooldown, the user's choices;
the webhook and sweep hooks."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from balances import tasks
from balances.models import Alert, AlertDelivery, AlertSettings, PlaidItem
from balances.services import webhooks
from balances.services.alerts import evaluate, rules, sweep
from tests.factories import (
    AccountFactory,
    BalanceSnapshotFactory,
    NetWorthDayFactory,
    PlaidItemFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db


def titles(user):
    return sorted(Alert.objects.filter(owner=user).values_list("title", flat=True))


def run(user, now=None):
    return evaluate.user_alerts_evaluate(user_id=user.pk, now=now)


def test_connection_alerts_fire_once_and_rearm_when_repaired():
    item = PlaidItemFactory(institution_name="Wombat Bank", last_refreshed_at=timezone.now())
    user = item.owner
    assert run(user) == 0
    PlaidItem.objects.filter(pk=item.pk).update(status=PlaidItem.Status.LOGIN_REQUIRED)
    assert run(user) == 1 and run(user) == 0
    PlaidItem.objects.filter(pk=item.pk).update(status=PlaidItem.Status.HEALTHY)
    assert run(user) == 0  # re-armed, nothing sent
    PlaidItem.objects.filter(pk=item.pk).update(status=PlaidItem.Status.LOGIN_REQUIRED)
    assert run(user) == 1
    assert titles(user) == ["Wombat Bank needs you to log in again"] * 2


def test_revoked_expiring_new_accounts_and_stale():
    now = timezone.now()
    item = PlaidItemFactory(
        institution_name="Koala",
        status=PlaidItem.Status.REVOKED,
        warning_code="PENDING_EXPIRATION",
        expires_at=now + timedelta(days=3),
        new_accounts_available=True,
        last_refreshed_at=now,
    )
    stale = PlaidItemFactory(
        owner=item.owner, institution_name="Emu", last_refreshed_at=now - timedelta(days=3)
    )
    far = PlaidItemFactory(
        owner=item.owner,
        institution_name="Dingo",
        warning_code="PENDING_DISCONNECT",
        expires_at=now + timedelta(days=30),
        last_refreshed_at=now,
    )
    assert run(item.owner, now) == 4
    assert titles(item.owner) == [
        "Access to Koala was revoked",
        "Emu has not refreshed since "
        + f"{timezone.localtime(stale.last_refreshed_at):%Y-%m-%d %H:%M %Z}",
        "Koala has new accounts",
        "Koala's connection expires soon",
    ]
    assert far.pk  # a consent ending in 30 days is not news yet


def test_a_user_who_turned_an_alert_off_does_not_get_it():
    item = PlaidItemFactory(status=PlaidItem.Status.LOGIN_REQUIRED)
    AlertSettings.objects.create(user=item.owner, login_required=False)
    assert run(item.owner) == 0


def test_the_cooldown_keeps_a_rule_quiet_after_it_fired():
    account = AccountFactory(available=Decimal(50))
    user = account.item.owner
    rules.alert_rule_create(
        user=user,
        kind="balance_below",
        scope="account",
        account_id=account.pk,
        threshold=Decimal(100),
        cooldown_hours=24,
    )
    now = timezone.now()
    assert run(user, now) == 1
    account.available = Decimal(500)
    account.save()
    assert run(user, now + timedelta(hours=1)) == 0
    account.available = Decimal(20)
    account.save()
    assert run(user, now + timedelta(hours=2)) == 0  # within the quiet time: not sent
    account.available = Decimal(500)
    account.save()
    run(user, now + timedelta(hours=30))
    account.available = Decimal(20)
    account.save()
    assert run(user, now + timedelta(hours=31)) == 1


def test_drop_since_the_day_before_by_amount_and_percent():
    account = AccountFactory(available=Decimal(700), current=Decimal(700))
    user = account.item.owner
    yesterday = timezone.now() - timedelta(days=1)
    BalanceSnapshotFactory(account=account, taken_at=yesterday, available=Decimal(1000))
    rules.alert_rule_create(
        user=user, kind="drop_amount", scope="all", threshold=Decimal(250), currency="USD"
    )
    rules.alert_rule_create(user=user, kind="drop_percent", scope="all", threshold=Decimal(40))
    assert run(user) == 1  # fell 300 (30 %): the amount fires, the percentage does not
    alert = Alert.objects.get()
    assert "fell from 1,000.00 USD" in alert.text and "700.00 USD" in alert.text
    assert "(30%)" in alert.text and "250.00 USD" in alert.text


def test_utilization_per_card_and_over_all_cards():
    card = AccountFactory(type="credit", current=Decimal(800), limit=Decimal(1000), available=None)
    user = card.item.owner
    AccountFactory(
        item=card.item, type="credit", current=Decimal(0), limit=Decimal(3000), available=None
    )
    rules.alert_rule_create(user=user, kind="utilization", scope="all", threshold=Decimal(50))
    rules.alert_rule_create(user=user, kind="utilization_total", scope="all", threshold=Decimal(25))
    assert run(user) == 1
    assert "credit utilization 80%" in titles(user)[0]
    card.current = Decimal(1100)
    card.save()
    assert run(user) == 1  # all cards: 1,100 of 4,000 = 27.5 %
    assert any("27.5%" in t for t in titles(user))


def test_net_worth_change_in_a_day():
    user = UserFactory()
    today = timezone.localdate()
    for day, assets in ((today - timedelta(days=3), 1000), (today, 800)):
        NetWorthDayFactory(user=user, day=day, assets=Decimal(assets))
    rules.alert_rule_create(user=user, kind="net_worth_change", scope="all", threshold=Decimal(10))
    assert run(user) == 1
    assert titles(user) == ["Net worth fell 20% today (USD)"]


def test_alerts_of_one_cycle_go_out_as_one_message(
    settings, deliveries, django_capture_on_commit_callbacks
):
    settings.ALERT_GROUP_SECONDS = 60
    user = UserFactory(email="eve@example.com")
    first = PlaidItemFactory(owner=user, status=PlaidItem.Status.LOGIN_REQUIRED)
    with django_capture_on_commit_callbacks(execute=True):
        run(user)
    PlaidItem.objects.filter(pk=first.pk).update(new_accounts_available=True)
    with django_capture_on_commit_callbacks(execute=True):
        run(user, timezone.now() + timedelta(seconds=10))
    assert Alert.objects.filter(owner=user).values("message").distinct().count() == 1
    assert AlertDelivery.objects.count() == 1 and len(deliveries.queued) == 1


def test_a_webhook_queues_the_evaluation_in_the_worker_not_in_the_request(
    monkeypatch, django_capture_on_commit_callbacks
):
    item = PlaidItemFactory(plaid_item_id="item-hook")
    queued = []
    monkeypatch.setattr(tasks.alerts_evaluate, "delay", lambda user_id: queued.append(user_id))
    with django_capture_on_commit_callbacks(execute=True):
        result = webhooks.webhook_process(
            payload={
                "webhook_type": "ITEM",
                "webhook_code": "ERROR",
                "item_id": "item-hook",
                "error": {
                    "error_code": "ITEM_LOGIN_REQUIRED",
                    "error_message": "x",
                    "error_type": "ITEM_ERROR",
                },
                "environment": "sandbox",
            }
        )
    assert result.handled
    assert queued == [item.owner_id]
    assert not Alert.objects.exists()  # evaluated by the task, in the worker


def test_the_sweep_alerts_stale_connections_and_requeues_lost_deliveries(
    deliveries, django_capture_on_commit_callbacks
):
    now = timezone.now()
    user = UserFactory(email="sam@example.com")
    PlaidItemFactory(
        owner=user, institution_name="Numbat", last_refreshed_at=now - timedelta(days=5)
    )
    with django_capture_on_commit_callbacks(execute=True):
        result = sweep.alerts_sweep(now=now)
    assert result.users_evaluated == 1
    assert titles(user)[0].startswith("Numbat has not refreshed since")
    deliveries.queued.clear()
    with django_capture_on_commit_callbacks(execute=True):
        result = sweep.alerts_sweep(now=now + timedelta(minutes=30))
    assert result.deliveries_queued == 1 and len(deliveries.queued) == 1


def test_the_sweep_alerts_a_consent_expiry_once_time_brings_it_within_the_notice(deliveries):
    now = timezone.now()
    item = PlaidItemFactory(
        institution_name="Quokka",
        warning_code="PENDING_EXPIRATION",
        expires_at=now + timedelta(days=10),
        last_refreshed_at=now,
    )
    user = item.owner
    assert run(user, now=now) == 0  # 10 days away: not news yet
    # No refresh, no webhook: only the clock moves (the sweep's `now`) and the Item stays
    # fresh enough that the stale check does not pick its owner.
    PlaidItem.objects.filter(pk=item.pk).update(last_refreshed_at=now + timedelta(days=4))
    assert sweep.alerts_sweep(now=now + timedelta(days=2)).users_evaluated == 0
    result = sweep.alerts_sweep(now=now + timedelta(days=4))
    assert result.users_evaluated == 1
    assert titles(user) == ["Quokka's connection expires soon"]
    # Holding already: the next sweeps neither evaluate the user again nor alert twice.
    assert sweep.alerts_sweep(now=now + timedelta(days=4, hours=1)).users_evaluated == 0
    assert titles(user) == ["Quokka's connection expires soon"]


def test_an_alert_names_times_in_the_users_zone(settings):
    from zoneinfo import ZoneInfo

    from balances.models import Profile

    settings.TIME_ZONE = "UTC"
    refreshed = timezone.now().replace(hour=10, minute=30, second=0, microsecond=0)
    item = PlaidItemFactory(institution_name="Wombat Bank", last_refreshed_at=refreshed)
    Profile.objects.update_or_create(user=item.owner, defaults={"time_zone": "Asia/Tokyo"})
    PlaidItem.objects.filter(pk=item.pk).update(status=PlaidItem.Status.LOGIN_REQUIRED)
    assert run(item.owner) == 1
    tokyo = timezone.localtime(refreshed, ZoneInfo("Asia/Tokyo"))
    (alert,) = Alert.objects.filter(owner=item.owner)
    assert f"Balances shown are from {tokyo:%Y-%m-%d %H:%M} JST." in alert.text


def test_a_disconnect_within_the_notice_fires_like_an_expiry():
    now = timezone.now()
    item = PlaidItemFactory(
        institution_name="Quokka",
        warning_code="PENDING_DISCONNECT",
        expires_at=now + timedelta(days=3),
        last_refreshed_at=now,
    )
    assert run(item.owner, now) == 1
    assert titles(item.owner) == ["Quokka's connection expires soon"]
    assert "PENDING_DISCONNECT" in Alert.objects.get().text


def test_a_rule_on_one_type_watches_the_current_balance_of_those_accounts_only():
    item = PlaidItemFactory()
    AccountFactory(item=item, name="Everyday", available=Decimal(500), current=Decimal(40))
    AccountFactory(item=item, name="Rainy Day", available=Decimal(20), current=Decimal(900))
    AccountFactory(
        item=item, name="Visa", type="credit", subtype="credit card", current=Decimal(10)
    )
    rules.alert_rule_create(
        user=item.owner,
        kind="balance_below",
        scope="type",
        account_type="depository",
        balance="current",
        threshold=Decimal(100),
        currency="USD",
    )
    # Only the depository account whose *current* balance is low (the other's available
    # balance is low, the card is of another type).
    assert run(item.owner) == 1
    (title,) = titles(item.owner)
    assert "Everyday" in title
