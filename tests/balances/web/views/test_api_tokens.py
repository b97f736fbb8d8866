"""Settings → API tokens: the token shown once on creation, then never; revoke."""

from __future__ import annotations

from typing import Any

import pytest

from balances.models import ApiToken
from balances.services import api_tokens
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_the_settings_page_links_to_api_tokens(client: Any, user: Any) -> None:
    page = client.get("/settings/").content.decode()
    assert 'href="/settings/api-tokens/"' in page and 'href="/api/v1/docs/"' in page


def test_create_shows_the_token_once_then_only_its_name(client: Any, user: Any) -> None:
    response = client.post(
        "/settings/api-tokens/", {"name": "Spreadsheet", "scope": "read", "expires_in_days": "30"}
    )
    assert response.status_code == 200
    assert response["Cache-Control"] == "private, no-store"
    token = ApiToken.objects.get(user=user)
    text = response.context["token_text"]
    assert text in response.content.decode()
    assert api_tokens.api_token_authenticate(token=text).pk == token.pk
    assert token.expires_at is not None and token.scope == "read"
    listing = client.get("/settings/api-tokens/")
    page = listing.content.decode()
    assert "Spreadsheet" in page and token.prefix in page and "Read" in page
    assert text not in page
    assert text not in client.get("/settings/").content.decode()


def test_create_with_write_scope_and_no_expiry(client: Any, user: Any) -> None:
    client.post("/settings/api-tokens/", {"name": "HA", "scope": "write", "expires_in_days": ""})
    token = ApiToken.objects.get(user=user)
    assert token.scope == "write" and token.expires_at is None


@pytest.mark.parametrize(
    "data",
    [
        {"name": "", "scope": "read"},
        {"name": "x", "scope": "root"},
        {"name": "x", "scope": "read", "expires_in_days": "5"},
        {"name": "x" * 101, "scope": "read"},
    ],
)
def test_bad_input_is_400_and_creates_nothing(client: Any, user: Any, data: dict) -> None:
    response = client.post("/settings/api-tokens/", data)
    assert response.status_code == 400
    assert not ApiToken.objects.exists()
    assert 'role="alert"' in response.content.decode()


def test_revoke_in_one_click(client: Any, user: Any) -> None:
    token, text = api_tokens.api_token_create(user=user, name="old")
    response = client.post(f"/settings/api-tokens/{token.pk}/revoke/")
    assert response.status_code == 302 and response["Location"] == "/settings/api-tokens/"
    token.refresh_from_db()
    assert token.revoked_at is not None
    page = client.get("/settings/api-tokens/").content.decode()
    assert "revoked" in page and f"/settings/api-tokens/{token.pk}/revoke/" not in page
    assert client.get("/api/v1/net-worth/", HTTP_AUTHORIZATION=f"Bearer {text}").status_code == 401


def test_another_users_token_is_404(client: Any, user: Any) -> None:
    token, _ = api_tokens.api_token_create(user=UserFactory(), name="theirs")
    assert client.post(f"/settings/api-tokens/{token.pk}/revoke/").status_code == 404
    token.refresh_from_db()
    assert token.revoked_at is None
    assert "theirs" not in client.get("/settings/api-tokens/").content.decode()


def test_tokens_never_reach_the_admin() -> None:
    from django.contrib import admin

    model_admin = admin.site._registry.get(ApiToken)
    if model_admin is not None:  # an admin may list tokens, never their hashes
        assert "token_hash" not in str(model_admin.get_fields(None))  # type: ignore[arg-type]
