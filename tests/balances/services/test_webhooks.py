"""`webhooks.webhook_process`: what a verified Plaid webhook does to its Item; and
`webhook_receive`: verified, applied once, its body read strictly (verification:
tests/balances/plaid/test_webhook_verification.py; keys: test_webhook_keys.py; the view:
tests/balances/web/views/test_webhooks.py)."""

import json
from datetime import timedelta

import pytest
from django.db import DatabaseError
from django.utils import timezone

from balances.models import PlaidItem
from balances.plaid.webhook_verification import WebhookRejected
from balances.services import webhooks
from tests.conftest import webhook_body
from tests.factories import AccountFactory, PlaidItemFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def item():
    return PlaidItemFactory(plaid_item_id="item-abc")


def apply(item, wtype="ITEM", code="ERROR", **extra) -> webhooks.WebhookResult:
    """Process a verified webhook for `item`, as the view does; reload the Item."""
    payload = json.loads(webhook_body(item.plaid_item_id, wtype=wtype, code=code, **extra))
    result = webhooks.webhook_process(payload=payload)
    item.refresh_from_db()
    return result


def test_error_login_required_marks_the_item(item, queued, django_capture_on_commit_callbacks):
    error = {"error_type": "ITEM_ERROR", "error_code": "ITEM_LOGIN_REQUIRED"}
    with django_capture_on_commit_callbacks(execute=True):
        result = apply(item, code="ERROR", error=error)
    assert result == webhooks.WebhookResult(True, "applied ERROR")
    assert (item.status, item.error_code) == (
        PlaidItem.Status.LOGIN_REQUIRED,
        "ITEM_LOGIN_REQUIRED",
    )
    assert queued == []


def test_pending_expiration_and_disconnect_set_warning_and_date(item):
    when = "2026-12-01T10:00:00Z"
    apply(item, code="PENDING_EXPIRATION", consent_expiration_time=when)
    assert item.warning_code == "PENDING_EXPIRATION"
    assert item.expires_at.isoformat() == "2026-12-01T10:00:00+00:00"
    apply(item, code="PENDING_DISCONNECT", disconnect_time="2026-12-03T00:00:00Z")
    assert (item.warning_code, item.expires_at.day) == ("PENDING_DISCONNECT", 3)


def test_pending_disconnect_without_a_date_uses_plaids_seven_days_once(item):
    apply(item, code="PENDING_DISCONNECT", reason="INSTITUTION_TOKEN_EXPIRATION")
    first = item.expires_at
    assert abs(first - (timezone.now() + timedelta(days=7))) < timedelta(minutes=1)
    apply(item, code="PENDING_DISCONNECT", reason="INSTITUTION_TOKEN_EXPIRATION")
    assert item.expires_at == first  # a repeated delivery keeps the announced date


def test_permission_revoked_marks_revoked(item, queued, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        apply(item, code="USER_PERMISSION_REVOKED")
        assert item.status == PlaidItem.Status.REVOKED
        # A refresh webhook after that queues nothing.
        apply(item, wtype="TRANSACTIONS", code="DEFAULT_UPDATE")
    assert queued == []
    assert item.refresh_requested_at is None


def test_login_repaired_makes_healthy_and_refreshes(queued, django_capture_on_commit_callbacks):
    item = PlaidItemFactory(
        status=PlaidItem.Status.LOGIN_REQUIRED, error_code="ITEM_LOGIN_REQUIRED"
    )
    with django_capture_on_commit_callbacks(execute=True):
        apply(item, code="LOGIN_REPAIRED")
    assert (item.status, item.error_code) == (PlaidItem.Status.HEALTHY, "")
    assert item.refresh_requested_at is not None
    assert [pk for pk, _ in queued] == [item.pk]


@pytest.mark.parametrize("code", ["DEFAULT_UPDATE", "SYNC_UPDATES_AVAILABLE"])
def test_update_webhooks_queue_one_refresh_however_often_delivered(
    item, queued, code, settings, django_capture_on_commit_callbacks
):
    # Real time whatever the schedule's source: Plaid says new data exists.
    settings.BALANCE_SCHEDULED_SOURCE = "cached"
    with django_capture_on_commit_callbacks(execute=True):
        first = apply(item, wtype="TRANSACTIONS", code=code)
        again = apply(item, wtype="TRANSACTIONS", code=code)
    assert queued == [(item.pk, {"realtime": True})]
    assert "refresh queued" in first.detail
    assert "already pending" in again.detail
    assert item.is_refresh_pending


def test_new_accounts_and_user_account_revoked(item):
    account = AccountFactory(item=item, plaid_account_id="acc-1")
    apply(item, code="NEW_ACCOUNTS_AVAILABLE")
    assert item.new_accounts_available is True
    apply(item, code="USER_ACCOUNT_REVOKED", account_id="acc-1")
    account.refresh_from_db()
    assert account.closed_at is not None  # closed, not deleted: history stays


def test_unknown_item_and_unknown_type_change_nothing(item):
    result = webhooks.webhook_process(payload=json.loads(webhook_body("item-nobody-knows")))
    assert result == webhooks.WebhookResult(False, "unknown item")
    before = PlaidItem.objects.get(pk=item.pk)
    result = apply(item, wtype="INCOME", code="SOMETHING")
    assert result == webhooks.WebhookResult(False, "unknown type")
    assert (item.status, item.new_accounts_available, item.updated_at) == (
        before.status,
        before.new_accounts_available,
        before.updated_at,
    )


# --- webhook_receive: verified, applied once, read strictly ------------------------------


def receive(body, token):
    return webhooks.webhook_receive(body=body, header=token)


def test_a_replayed_delivery_is_acknowledged_and_not_applied(
    webhook_keys, queued, django_capture_on_commit_callbacks
):
    item = PlaidItemFactory(plaid_item_id="item-abc")
    error = {"error_type": "ITEM_ERROR", "error_code": "ITEM_LOGIN_REQUIRED"}
    captured_body = webhook_body(item.plaid_item_id, code="ERROR", error=error)
    captured = webhook_keys.sign(captured_body)
    assert receive(captured_body, captured) == webhooks.WebhookResult(True, "applied ERROR")
    repaired = webhook_body(item.plaid_item_id, code="LOGIN_REPAIRED")
    with django_capture_on_commit_callbacks(execute=True):
        assert receive(repaired, webhook_keys.sign(repaired)).handled
    item.refresh_from_db()
    assert item.status == PlaidItem.Status.HEALTHY
    # Seconds later, inside the token's 5 minutes, someone posts the captured delivery again.
    assert receive(captured_body, captured) == webhooks.WebhookResult(False, "already received")
    item.refresh_from_db()
    assert (item.status, item.error_code) == (PlaidItem.Status.HEALTHY, "")


def test_a_delivery_that_failed_to_apply_is_forgotten_so_it_can_be_applied(
    webhook_keys, monkeypatch
):
    item = PlaidItemFactory(plaid_item_id="item-abc")
    body = webhook_body(item.plaid_item_id)
    token = webhook_keys.sign(body)

    def down(**kwargs):
        raise DatabaseError("database restarting")

    original = webhooks._apply
    monkeypatch.setattr(webhooks, "_apply", down)
    with pytest.raises(DatabaseError):
        receive(body, token)
    monkeypatch.setattr(webhooks, "_apply", original)
    assert receive(body, token).detail == "applied NEW_ACCOUNTS_AVAILABLE"
    assert receive(body, token).detail == "already received"


def test_without_shared_state_replays_are_caught_in_this_process(webhook_keys, settings):
    settings.THROTTLE_REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens there
    item = PlaidItemFactory(plaid_item_id="item-abc")
    body = webhook_body(item.plaid_item_id)
    token = webhook_keys.sign(body)
    assert receive(body, token).handled
    assert receive(body, token) == webhooks.WebhookResult(False, "already received")


MALFORMED = {
    "impossible date": dict(
        code="PENDING_EXPIRATION", consent_expiration_time="2025-02-30T00:00:00Z"
    ),
    "error code over 100 characters": dict(code="ERROR", error={"error_code": "E" * 101}),
    "NUL in item_id": dict(code="NEW_ACCOUNTS_AVAILABLE", item_id="item-abc\x00"),
    "NUL in error_code": dict(code="ERROR", error={"error_code": "ITEM_LOGIN_REQUIRED\x00"}),
    "NUL in account_id": dict(code="USER_ACCOUNT_REVOKED", account_id="acc-1\x00"),
}


@pytest.mark.parametrize("case", MALFORMED)
def test_a_verified_body_the_app_cannot_read_is_acknowledged_and_changes_nothing(
    webhook_keys, case, caplog
):
    item = PlaidItemFactory(plaid_item_id="item-abc")
    account = AccountFactory(item=item, plaid_account_id="acc-1")
    changes = dict(MALFORMED[case])
    payload = json.loads(webhook_body(item.plaid_item_id, code=changes.pop("code")))
    payload.update(changes)
    body = json.dumps(payload).encode()
    before = PlaidItem.objects.get(pk=item.pk)
    result = receive(body, webhook_keys.sign(body))
    assert not result.handled and result.detail.startswith("malformed: ")
    assert "malformed" in caplog.text
    after = PlaidItem.objects.get(pk=item.pk)
    assert (after.status, after.error_code, after.warning_code, after.expires_at) == (
        before.status,
        before.error_code,
        before.warning_code,
        before.expires_at,
    )
    assert (after.new_accounts_available, after.updated_at) == (
        before.new_accounts_available,
        before.updated_at,
    )
    account.refresh_from_db()
    assert account.closed_at is None
    # The same, given to webhook_process as a parsed body.
    assert webhooks.webhook_process(payload=payload).detail.startswith("malformed: ")


def test_an_unverified_delivery_is_refused_before_anything(webhook_keys):
    item = PlaidItemFactory(plaid_item_id="item-abc")
    body = webhook_body(item.plaid_item_id)
    with pytest.raises(WebhookRejected):
        receive(body, webhook_keys.sign(body + b" "))
    assert webhook_keys.fetches == []
    item.refresh_from_db()
    assert item.new_accounts_available is False
