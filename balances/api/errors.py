"""Every error of the API as JSON `{"detail": "<what went wrong>"}`, with its status:
400 bad input, 401 no or a refused token, 403 not allowed (a read token writing, a missing
CSRF token), 404 no such object (another user's too), 405, 429 (with `Retry-After`).
A body that fails field by field (a 400 of a write) also has `errors`: each field's
messages, `{"value": ["Enter a number ..."]}`."""

from __future__ import annotations

from typing import Any

from rest_framework import status
from rest_framework.exceptions import APIException
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler


class InvalidParameter(APIException):
    """A query parameter with a value the endpoint does not take (400)."""

    status_code = status.HTTP_400_BAD_REQUEST
    default_detail = "Invalid parameter."
    default_code = "invalid"


class Unavailable(APIException):
    """The task queue or the shared state cannot be reached: nothing was done (503)."""

    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = "The background service is not reachable; try again in a few minutes."
    default_code = "unavailable"


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """Answer REST framework's and Django's 4xx exceptions as `{"detail": "..."}`."""
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    data = response.data
    if not (isinstance(data, dict) and set(data) == {"detail"}):
        # Field errors ({"field": ["..."]} or ["..."]): one readable sentence, and each
        # field's messages as they are.
        response.data = {"detail": _flatten(data)}
        if isinstance(data, dict):
            response.data["errors"] = {
                str(field): [str(m) for m in (v if isinstance(v, list) else [v])]
                for field, v in data.items()
            }
    response["Cache-Control"] = "private, no-store"
    return response


def _flatten(data: Any) -> str:
    if isinstance(data, dict):
        return " ".join(f"{key}: {_flatten(value)}" for key, value in data.items())
    if isinstance(data, list):
        return " ".join(_flatten(value) for value in data)
    return str(data)
