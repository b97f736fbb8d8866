"""Who a request is: a personal access token (`Authorization: Bearer <token>`) or the
signed-in browser's session (CSRF-checked on writes, as every form of the site)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import User
from rest_framework.authentication import BaseAuthentication, SessionAuthentication
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.request import Request

from balances.models import ApiToken
from balances.services import api_tokens

__all__ = ["BearerTokenAuthentication", "SessionAuthentication"]


class BearerTokenAuthentication(BaseAuthentication):
    """Authenticate `Authorization: Bearer <token>`; `request.auth` is the ApiToken.

    No Authorization header, or another scheme: not this class's request (the session may
    still authenticate it). A Bearer token that is unknown, revoked or expired: 401. The
    token is never logged or echoed back.
    """

    keyword = "bearer"

    def authenticate(self, request: Request) -> tuple[User, ApiToken] | None:
        header = request.META.get("HTTP_AUTHORIZATION", "")
        parts = header.split()
        if not parts or parts[0].lower() != self.keyword:
            return None
        if len(parts) != 2:
            raise AuthenticationFailed("Send the token as `Authorization: Bearer <token>`.")
        try:
            token = api_tokens.api_token_authenticate(token=parts[1])
        except api_tokens.ApiTokenRejected as exc:
            raise AuthenticationFailed(str(exc)) from None
        return token.user, token

    def authenticate_header(self, request: Any) -> str:
        # Makes a missing or refused token a 401 (with this challenge), not a 403.
        return 'Bearer realm="api"'
