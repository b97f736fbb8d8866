"""Structured logs: a request id on every record, JSON lines in production.

`RequestIdMiddleware` takes the id from an incoming `X-Request-ID` (a proxy's) when it is
sane, or makes one, echoes it in the response, and `ContextFilter` adds it to every record
logged while the request runs. Celery tasks get their task id the same way (see
`finance/celery.py`). Pass `extra={"item_id": ..., "plaid_request_id": ...}` to log those.
"""

from __future__ import annotations

import json
import logging
import re
import uuid
from collections.abc import Callable
from contextvars import ContextVar
from datetime import UTC, datetime

from django.http import HttpRequest, HttpResponse

from balances import log_fields

request_id: ContextVar[str] = ContextVar("request_id", default="")

_SANE_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
# Attributes every LogRecord has; anything else was passed through `extra=`.
_STANDARD = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime", "request_id"}


class ContextFilter(logging.Filter):
    """Add the current request (or task) id to each record."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id.get()
        # Fields the app added with `balances.log_fields.log_context(...)` (a task's item_id).
        for key, value in log_fields.current().items():
            if not hasattr(record, key):  # an explicit `extra=` wins
                setattr(record, key, value)
        return True


class JsonFormatter(logging.Formatter):
    """Format a record as one JSON object per line."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        rid = getattr(record, "request_id", "")
        if rid:
            entry["request_id"] = rid
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


class RequestIdMiddleware:
    """Give every request an id, visible in logs and in the `X-Request-ID` response header."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        incoming = request.headers.get("X-Request-ID", "")
        rid = incoming if _SANE_ID.match(incoming) else uuid.uuid4().hex
        token = request_id.set(rid)
        try:
            response = self.get_response(request)
        finally:
            request_id.reset(token)
        response["X-Request-ID"] = rid
        return response
