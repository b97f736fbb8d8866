"""The API's pages in the machine's headless Chromium: create a token in Settings (shown
once), then read the API's reference (server-rendered) with no CSP violation."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import pytest

from balances.models import ApiToken
from balances.services import api_tokens
from tests.e2e.dashboard_data import PASSWORD
from tests.e2e.test_dashboard_browser import ARTIFACTS, log_in
from tests.factories import UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_create_a_token_then_read_the_api_docs(browser: Any, live_server: Any) -> None:
    user = UserFactory(username="otter", password=PASSWORD)
    page = log_in(browser, live_server, user.username)
    hosts: set[str] = set()
    page.on("request", lambda request: hosts.add(urlsplit(request.url).netloc))

    page.goto(f"{live_server.url}/settings/")
    page.get_by_role("link", name="Manage API tokens").click()
    page.get_by_label("Name").fill("Home Assistant")
    page.get_by_label("Read and write").check()
    page.get_by_role("button", name="Create token").click()
    text = page.locator("#new-token").inner_text().strip()
    assert api_tokens.api_token_authenticate(token=text).name == "Home Assistant"
    assert ApiToken.objects.get(user=user).scope == "write"
    page.get_by_role("link", name="Done: back to API tokens").click()
    assert "Home Assistant" in page.content() and text not in page.content()

    page.get_by_role("link", name="API", exact=True).click()
    page.wait_for_url(f"{live_server.url}/api/v1/docs/")
    assert page.get_by_role("heading", level=1).inner_text().startswith("Balances API")
    paths = page.locator(".api-path").all_inner_texts()
    assert "/api/v1/net-worth/" in paths and "/api/v1/connections/{id}/refresh/" in paths
    # The contents lead to an operation; its response body leads to the schema's fields.
    contents = page.get_by_role("navigation", name="Endpoints")
    contents.get_by_role("link", name="POST /api/v1/connections/{id}/refresh/").click()
    assert page.evaluate("location.hash") == "#connections_refresh"
    operation = page.locator("article", has=page.locator("#connections_refresh"))
    operation.get_by_role("link", name="RefreshQueued").click()
    assert page.evaluate("location.hash") == "#schema-RefreshQueued"
    assert page.locator("#schema-RefreshQueued").is_visible()
    assert page.get_by_role("table", name="Fields of RefreshQueued").is_visible()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "api-docs.png"))
    # Nothing from elsewhere, nothing the Content-Security-Policy refused, no script error.
    assert hosts == {urlsplit(live_server.url).netloc}
    assert page.problems == []

    # Revoke in one click.
    page.goto(f"{live_server.url}/settings/api-tokens/")
    page.get_by_role("button", name="Revoke Home Assistant").click()
    assert "is revoked" in page.content()
    assert ApiToken.objects.get(user=user).revoked_at is not None
    assert page.problems == []
