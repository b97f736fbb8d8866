"""`balances.api.authentication`: a Bearer token, or the signed-in session; everything else
is a 401 with a JSON error (never a login page, never a token echoed back)."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from balances.models import ApiToken
from balances.services import api_tokens
from tests.balances.api.conftest import TokenClient
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

ENDPOINTS = (
    "/api/v1/net-worth/",
    "/api/v1/net-worth/history/",
    "/api/v1/accounts/",
    "/api/v1/connections/",
    "/api/v1/schema/",
)


def _assert_401(response: Any, detail: str) -> None:
    assert response.status_code == 401
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"detail": detail}
    assert response["WWW-Authenticate"] == 'Bearer realm="api"'
    assert response["Cache-Control"] == "private, no-store"


@pytest.mark.parametrize("url", ENDPOINTS)
def test_no_token_is_401(url: str) -> None:
    _assert_401(Client().get(url), "Authentication credentials were not provided.")


@pytest.mark.parametrize(
    "header",
    [
        "Bearer bal_not-a-token-at-all",
        "Bearer nonsense",
        "bearer bal_" + "x" * 300,
        "Bearer bal_ä",
    ],
)
def test_a_wrong_token_is_401(header: str, api: TokenClient) -> None:
    for url in ENDPOINTS:
        _assert_401(Client().get(url, HTTP_AUTHORIZATION=header), "Invalid token.")


@pytest.mark.parametrize("header", ["Bearer", "Bearer a b", "Bearer  "])
def test_a_malformed_bearer_header_is_401(header: str) -> None:
    response = Client().get("/api/v1/net-worth/", HTTP_AUTHORIZATION=header)
    assert response.status_code == 401
    assert "detail" in response.json()


def test_another_scheme_is_not_a_token(api: TokenClient) -> None:
    response = Client().get("/api/v1/net-worth/", HTTP_AUTHORIZATION=f"Basic {api.text}")
    _assert_401(response, "Authentication credentials were not provided.")


def test_a_revoked_token_is_401_at_once(api: TokenClient) -> None:
    assert api.get("/api/v1/net-worth/").status_code == 200
    assert api.token is not None
    api_tokens.api_token_revoke(user=api.token.user, token_id=api.token.pk)
    _assert_401(api.get("/api/v1/net-worth/"), "This token was revoked.")


def test_an_expired_token_is_401(api: TokenClient) -> None:
    assert api.token is not None
    ApiToken.objects.filter(pk=api.token.pk).update(expires_at=timezone.now())
    _assert_401(api.get("/api/v1/accounts/"), "This token has expired.")


def test_the_token_of_a_deactivated_user_is_401(api: TokenClient) -> None:
    assert api.token is not None
    api.token.user.is_active = False
    api.token.user.save()
    _assert_401(api.get("/api/v1/accounts/"), "Invalid token.")


def test_a_token_notes_when_it_was_last_used(api: TokenClient) -> None:
    assert api.token is not None
    assert ApiToken.objects.get(pk=api.token.pk).last_used_at is None
    before = timezone.now()
    assert api.get("/api/v1/net-worth/").status_code == 200
    used = ApiToken.objects.get(pk=api.token.pk).last_used_at
    assert used is not None and used >= before
    # At most once a minute: the next request writes nothing.
    ApiToken.objects.filter(pk=api.token.pk).update(last_used_at=used - timedelta(seconds=30))
    api.get("/api/v1/net-worth/")
    assert ApiToken.objects.get(pk=api.token.pk).last_used_at == used - timedelta(seconds=30)


def test_the_signed_in_session_reads_too(refreshed_user: Any) -> None:
    client = Client()
    client.force_login(refreshed_user)
    response = client.get("/api/v1/net-worth/")
    assert response.status_code == 200
    assert response.json()["totals"][0]["net_worth"] == "44110.00"


def test_a_session_write_needs_the_csrf_token(refreshed_user: Any, queued_refreshes: Any) -> None:
    item = refreshed_user.plaid_items.get()
    client = Client(enforce_csrf_checks=True)
    client.force_login(refreshed_user)
    url = f"/api/v1/connections/{item.pk}/refresh/"
    refused = client.post(url)
    assert refused.status_code == 403
    assert "CSRF" in refused.json()["detail"]
    client.get("/settings/api-tokens/")  # a page with a form sets the CSRF cookie
    csrf = client.cookies["csrftoken"].value
    assert client.post(url, HTTP_X_CSRFTOKEN=csrf).status_code == 202


def test_a_token_needs_no_csrf_token(make_client: Any, refreshed_user: Any, queued_refreshes: Any):
    writer = make_client(refreshed_user, scope="write")
    writer.client = Client(enforce_csrf_checks=True)
    item = refreshed_user.plaid_items.get()
    assert writer.post(f"/api/v1/connections/{item.pk}/refresh/").status_code == 202


def test_a_token_wins_over_a_session(refreshed_user: Any, make_client: Any) -> None:
    """Another user's session in the same browser does not change whose data a token reads."""
    other = make_client(UserFactory())
    other.client.force_login(refreshed_user)
    assert other.get("/api/v1/net-worth/").json()["totals"] == []


def test_no_token_reaches_a_log_line(
    api: TokenClient, caplog: pytest.LogCaptureFixture, refreshed_user: Any, make_client: Any
) -> None:
    caplog.set_level(logging.DEBUG)
    texts = [api.text]
    api.get("/api/v1/net-worth/")
    api.get("/api/v1/accounts/999999/")
    api.get("/api/v1/net-worth/history/", {"range": "bad"})
    revoked = make_client(refreshed_user)
    assert revoked.token is not None
    api_tokens.api_token_revoke(user=refreshed_user, token_id=revoked.token.pk)
    revoked.get("/api/v1/accounts/")
    texts.append(revoked.text)
    Client().get("/api/v1/accounts/", HTTP_AUTHORIZATION="Bearer bal_wrong-token-text")
    texts.append("bal_wrong-token-text")
    assert caplog.records  # not vacuous: the 4xx answers were logged
    logged = caplog.text + "".join(r.getMessage() for r in caplog.records)
    for text in texts:
        assert text and text not in logged
