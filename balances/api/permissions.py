"""What an authenticated request may do: a read token only reads."""

from __future__ import annotations

from typing import Any

from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.request import Request

from balances.models import ApiToken


class TokenScope(BasePermission):
    """Let a read token read; writes need a read-and-write token, or the signed-in session
    (whose writes SessionAuthentication checks for a CSRF token)."""

    message = "This token may only read: create a token with the read and write scope."

    def has_permission(self, request: Request, view: Any) -> bool:
        if request.method in SAFE_METHODS:
            return True
        token = request.auth
        if isinstance(token, ApiToken):
            return token.can_write
        return True
