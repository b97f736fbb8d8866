"""`webhook_body.parse_webhook`: a webhook's body read strictly, once; anything the
database could not store or the app could not read is MalformedWebhook."""

import json
from datetime import UTC, datetime

import pytest

from balances.plaid.webhook_body import (
    MalformedWebhook,
    Webhook,
    WebhookError,
    parse_webhook,
    webhook_from_payload,
)
from tests.conftest import webhook_body


def test_a_plaid_webhook_is_read_with_its_fields():
    body = webhook_body(
        "item-abc",
        code="ERROR",
        error={"error_code": "ITEM_LOGIN_REQUIRED", "error_message": "log in\nagain"},
        consent_expiration_time="2026-12-01T10:00:00Z",
        disconnect_time="2026-12-01T12:00:00+02:00",
        account_id="acc-1",
        new_field_plaid_added={"deep": [1, 2]},  # fields the app does not read are ignored
    )
    assert parse_webhook(body) == Webhook(
        webhook_type="ITEM",
        webhook_code="ERROR",
        item_id="item-abc",
        error=WebhookError(code="ITEM_LOGIN_REQUIRED", message="log in\nagain"),
        account_id="acc-1",
        consent_expiration_time=datetime(2026, 12, 1, 10, tzinfo=UTC),
        disconnect_time=datetime(2026, 12, 1, 10, tzinfo=UTC),
    )


def test_absent_optional_fields_are_none_and_display_message_comes_first():
    webhook = webhook_from_payload(
        {
            "webhook_type": "ITEM",
            "webhook_code": "ERROR",
            "error": {"error_code": "X", "display_message": "shown", "error_message": "raw"},
        }
    )
    assert webhook.item_id is None and webhook.account_id is None
    assert webhook.error == WebhookError(code="X", message="shown")
    assert (
        webhook_from_payload({"webhook_type": "A", "webhook_code": "B", "error": None}).error
        is None
    )
    assert (
        webhook_from_payload({"webhook_type": "A", "webhook_code": "B", "error": {}}).error is None
    )


MALFORMED = {
    "impossible date": (
        {"consent_expiration_time": "2025-02-30T00:00:00Z"},
        "consent_expiration_time",
    ),
    "date without a time zone": ({"disconnect_time": "2026-01-01T00:00:00"}, "disconnect_time"),
    "date past the calendar": ({"disconnect_time": "9999-12-31T23:00:00-14:00"}, "disconnect_time"),
    "date not a string": ({"disconnect_time": 1700000000}, "disconnect_time"),
    "error code over 100 characters": ({"error": {"error_code": "E" * 101}}, "error.error_code"),
    "NUL in item_id": ({"item_id": "item-abc\x00"}, "item_id"),
    "NUL in error_code": ({"error": {"error_code": "ITEM\x00"}}, "error.error_code"),
    "NUL in account_id": ({"account_id": "acc\x00"}, "account_id"),
    "NUL in a message": ({"error": {"error_code": "X", "error_message": "a\x00b"}}, "error."),
    "lone surrogate in a message": (
        {"error": {"error_code": "X", "error_message": "\ud800"}},
        "error.error_message",
    ),
    "message too long": ({"error": {"error_code": "X", "error_message": "m" * 2001}}, "error."),
    "item_id not a string": ({"item_id": 42}, "item_id"),
    "empty item_id": ({"item_id": ""}, "item_id"),
    "error not an object": ({"error": "ITEM_LOGIN_REQUIRED"}, "error"),
    "no webhook_type": ({"webhook_type": None}, "webhook_type"),
    "webhook_code a list": ({"webhook_code": ["ERROR"]}, "webhook_code"),
}


@pytest.mark.parametrize("case", MALFORMED)
def test_a_field_the_app_cannot_read_or_store_makes_the_body_malformed(case):
    changes, field = MALFORMED[case]
    payload = json.loads(webhook_body("item-abc", code="ERROR"))
    payload.update(changes)
    with pytest.raises(MalformedWebhook, match=f"^{field.replace('.', '[.]')}") as raised:
        parse_webhook(json.dumps(payload).encode())
    assert "\x00" not in str(raised.value)  # the value itself is never repeated


@pytest.mark.parametrize(
    "body",
    [b"", b"not json", b"[1, 2]", b'"text"', b'{"a": NaN}', b"\xff\xfe", b"[" * 100_000],
)
def test_a_body_that_is_not_a_json_object_is_malformed(body):
    with pytest.raises(MalformedWebhook):
        parse_webhook(body)
