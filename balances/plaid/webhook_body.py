"""Strict parsing of a Plaid webhook's body into a `Webhook`, the one place its fields are
read (https://plaid.com/docs/api/items/#webhooks).

Every field the app uses is checked here, once: its type, a length the database can store,
no control characters (PostgreSQL refuses NUL in text) and only encodable text (JSON's
lone surrogates cannot be stored either), dates that exist and carry a time zone. Anything
else raises `MalformedWebhook`, whose message names the field but never repeats its value.
Fields the app does not read are ignored. Parsing is for verified bodies; it costs one
`json.loads` and a pass over a handful of fields.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

# Identifiers and codes: Plaid's are short ASCII; our columns hold 100 characters
# (PlaidItem.plaid_item_id, .error_code, Account.plaid_account_id).
MAX_ID_LENGTH = 100
# Human-readable messages (PlaidItem.error_message is unbounded text; Plaid's are a line).
MAX_MESSAGE_LENGTH = 2000
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_CONTROL_IN_TEXT = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")  # newlines and tabs allowed


class MalformedWebhook(ValueError):
    """The body is not a webhook the app can read. The message names the field."""


@dataclass(frozen=True, slots=True)
class WebhookError:
    code: str
    message: str


@dataclass(frozen=True, slots=True)
class Webhook:
    """What the app reads of a webhook. Absent optional fields are None (`item_id` too:
    some webhook types name no Item)."""

    webhook_type: str
    webhook_code: str
    item_id: str | None
    error: WebhookError | None
    account_id: str | None
    consent_expiration_time: datetime | None
    disconnect_time: datetime | None


def _text(value: Any, field: str, *, max_length: int, pattern: re.Pattern[str]) -> str:
    if not isinstance(value, str):
        raise MalformedWebhook(f"{field} is not a string")
    if len(value) > max_length:
        raise MalformedWebhook(f"{field} is longer than {max_length} characters")
    if pattern.search(value):
        raise MalformedWebhook(f"{field} holds a control character")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise MalformedWebhook(f"{field} is not valid text") from exc
    return value


def _identifier(value: Any, field: str) -> str:
    text = _text(value, field, max_length=MAX_ID_LENGTH, pattern=_CONTROL)
    if not text:
        raise MalformedWebhook(f"{field} is empty")
    return text


def _optional_identifier(obj: dict[str, Any], key: str, field: str) -> str | None:
    value = obj.get(key)
    return None if value is None else _identifier(value, field)


def _optional_datetime(obj: dict[str, Any], key: str) -> datetime | None:
    value = obj.get(key)
    if value is None:
        return None
    text = _text(value, key, max_length=64, pattern=_CONTROL)
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError as exc:
        raise MalformedWebhook(f"{key} is not a date and time") from exc
    if parsed.tzinfo is None:
        raise MalformedWebhook(f"{key} has no time zone")
    try:
        return parsed.astimezone(UTC)
    except OverflowError as exc:  # an offset that moves it past the calendar's ends
        raise MalformedWebhook(f"{key} is not a date and time") from exc


def _error(value: Any) -> WebhookError | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise MalformedWebhook("error is not an object")
    code = _optional_identifier(value, "error_code", "error.error_code")
    if code is None:
        return None
    message = ""
    for key in ("display_message", "error_message"):
        if value.get(key) is not None:
            message = _text(
                value[key], f"error.{key}", max_length=MAX_MESSAGE_LENGTH, pattern=_CONTROL_IN_TEXT
            )
            if message:
                break
    return WebhookError(code=code, message=message)


def webhook_from_payload(payload: Any) -> Webhook:
    """Return the webhook `payload` (a body already parsed from JSON) describes."""
    if not isinstance(payload, dict):
        raise MalformedWebhook("body is not a JSON object")
    return Webhook(
        webhook_type=_identifier(payload.get("webhook_type"), "webhook_type"),
        webhook_code=_identifier(payload.get("webhook_code"), "webhook_code"),
        item_id=_optional_identifier(payload, "item_id", "item_id"),
        error=_error(payload.get("error")),
        account_id=_optional_identifier(payload, "account_id", "account_id"),
        consent_expiration_time=_optional_datetime(payload, "consent_expiration_time"),
        disconnect_time=_optional_datetime(payload, "disconnect_time"),
    )


def _reject_constant(name: str) -> Any:
    raise MalformedWebhook(f"body holds {name}, which is not JSON")


def parse_webhook(body: bytes) -> Webhook:
    """Return the webhook `body` (its raw bytes) describes; raise MalformedWebhook."""
    try:
        payload = json.loads(body, parse_constant=_reject_constant)
    except MalformedWebhook:
        raise
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
        raise MalformedWebhook("body is not JSON") from exc
    return webhook_from_payload(payload)
