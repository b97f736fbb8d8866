"""API_THROTTLE_RATE requests per token (a signed-in session: per session), shared by
every web process through the shared state (Redis, or the file without it)."""

from __future__ import annotations

import hashlib
import logging
import re
from typing import Any

from django.conf import settings
from rest_framework.request import Request
from rest_framework.throttling import BaseThrottle

from balances.models import ApiToken
from balances.shared_state import api as shared_state

logger = logging.getLogger(__name__)

RATE_RE = re.compile(r"^\s*(\d+)\s*/\s*(s|sec|second|m|min|minute|h|hour|d|day)\s*$")
PERIOD_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_rate(rate: str) -> tuple[int, int]:
    """Return (requests, seconds) of a rate such as "120/min"; raise ValueError otherwise."""
    match = RATE_RE.match(rate)
    if match is None or int(match[1]) < 1:
        raise ValueError(f"Not a rate such as 120/min: {rate!r}")
    return int(match[1]), PERIOD_SECONDS[match[2][0]]


def client_key(request: Request) -> str | None:
    """Return the name counting this request's client (None: not counted).

    It holds a hash of the token (already stored hashed) or of the session key, never a
    credential.
    """
    token = request.auth
    if isinstance(token, ApiToken):
        ident = "token:" + token.token_hash[:32]
    else:
        session_key = getattr(getattr(request._request, "session", None), "session_key", None)
        if not session_key:
            return None
        ident = "session:" + hashlib.sha256(session_key.encode()).hexdigest()[:32]
    return ident


class TokenRateThrottle(BaseThrottle):
    """Allow API_THROTTLE_RATE requests per client; beyond it 429 with `Retry-After`.

    When the shared state cannot be reached the request goes through (logged): reads stay
    available, and every write has limits of its own.
    """

    def __init__(self) -> None:
        self._wait = 0.0

    def allow_request(self, request: Request, view: Any) -> bool:
        key = client_key(request)
        if key is None:
            return True
        limit, window = parse_rate(settings.API_THROTTLE_RATE)
        try:
            self._wait = shared_state.api_request_wait(key, limit=limit, window=float(window))
        except shared_state.SharedStateUnavailable:
            logger.warning("API request not throttled: the shared state is unreachable")
            return True
        return self._wait <= 0

    def wait(self) -> float | None:
        return self._wait or None
