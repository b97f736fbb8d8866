"""Fixtures for the API's tests: users with Plaid's example accounts, real tokens, and a
client that sends them over HTTP (Django's test client, `Authorization: Bearer`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client

from balances.models import ApiToken
from balances.services import api_tokens


class TokenClient:
    """Django's test client sending one token as `Authorization: Bearer <token>`."""

    def __init__(self, text: str | None, token: ApiToken | None = None) -> None:
        self.text = text
        self.token = token
        self.client = Client(raise_request_exception=False)

    def _headers(self) -> dict[str, str]:
        return {"HTTP_AUTHORIZATION": f"Bearer {self.text}"} if self.text else {}

    def get(self, url: str, data: Any = None) -> Any:
        return self.client.get(url, data, **self._headers())

    def post(self, url: str, data: Any = None) -> Any:
        return self.client.post(url, data, content_type="application/json", **self._headers())

    def patch(self, url: str, data: Any = None) -> Any:
        return self.client.patch(url, data, content_type="application/json", **self._headers())

    def delete(self, url: str) -> Any:
        return self.client.delete(url, **self._headers())


@pytest.fixture
def make_client(db: Any) -> Callable[..., TokenClient]:
    """Return `make(user, scope="read", expires_in_days=None)`: a client with a new token."""

    def make(user: Any, scope: str = "read", expires_in_days: int | None = None) -> TokenClient:
        token, text = api_tokens.api_token_create(
            user=user, name="tests", scope=scope, expires_in_days=expires_in_days
        )
        return TokenClient(text, token)

    return make


@pytest.fixture
def api(refreshed_user: Any, make_client: Callable[..., TokenClient]) -> TokenClient:
    """A read token of a user with Plaid's five example accounts ($44,110.00)."""
    return make_client(refreshed_user)
