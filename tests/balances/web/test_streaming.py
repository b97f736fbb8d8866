"""The dashboard streamed (balances/web/streaming.py): the header first, the same page."""

from __future__ import annotations

import re

import pytest
from django.contrib import messages
from django.contrib.messages.storage.fallback import FallbackStorage
from django.contrib.sessions.backends.db import SessionStore
from django.shortcuts import render
from django.test import RequestFactory
from django.utils import timezone

from balances.web.streaming import DATABASE_ERROR, render_streaming
from balances.web.views.dashboard import dashboard_context
from tests.helpers import body

pytestmark = pytest.mark.django_db

CSRF_VALUE = re.compile(r'(name="csrfmiddlewaretoken" value=|csrf-token=)"[^"]+"')


def masked(page: str) -> str:
    """The page with its CSRF tokens (masked afresh at each render) blanked."""
    return CSRF_VALUE.sub(r'\1""', page)


def test_the_streamed_page_is_byte_for_byte_the_page_rendered_at_once(client, refreshed_user):
    client.force_login(refreshed_user)
    response = client.get("/?range=1y&since=1m")
    assert response.status_code == 200 and response.streaming
    chunks = [c.decode() for c in response.streaming_content]
    # The header and navigation first, no figure in them; the figures after.
    assert len(chunks) == 2
    assert "</nav>" in chunks[0] and '<main id="content"' in chunks[0]
    assert "$44,110.00" not in chunks[0] and "$44,110.00" in chunks[1]
    streamed = "".join(chunks)
    assert streamed.endswith("</html>\n")
    # Today's page: the same figures rendered in one go by `render`.
    today = render(
        response.wsgi_request,
        "balances/dashboard.html",
        dashboard_context(user=refreshed_user, range_key="1y", period_key="1m", household=False),
    ).content.decode()
    assert masked(streamed) == masked(today)
    assert "csrfmiddlewaretoken" in streamed


def test_the_streamed_page_keeps_the_headers_the_cookie_and_the_messages(client, refreshed_user):
    client.force_login(refreshed_user)
    client.get("/")  # the CSRF cookie, set with the headers of a streamed page
    csrf = client.cookies["csrftoken"].value
    assert csrf
    refreshed = client.post("/refresh/", {"csrfmiddlewaretoken": csrf}, follow=False)
    assert refreshed.status_code == 302  # the form (no JavaScript) posts with the token
    response = client.get("/")
    for header in ("Content-Security-Policy", "X-Frame-Options", "X-Content-Type-Options"):
        assert response.has_header(header), header
    assert response.has_header("X-Request-ID")
    assert response["X-Accel-Buffering"] == "no"  # a buffering proxy passes the head on
    page = body(response)
    assert '<div class="messages" role="status">' in page  # "Refreshing …" or "… already"
    # Shown once: read before the first byte, so the messages middleware cleared them.
    assert '<div class="messages"' not in body(client.get("/"))


def test_a_database_failure_after_the_first_byte_ends_the_page_with_an_error(
    client, refreshed_user, database_fault
):
    client.force_login(refreshed_user)
    response = client.get("/")
    assert response.status_code == 200
    chunks = iter(response.streaming_content)
    head = next(chunks).decode()
    database_fault.start()  # the figures' queries fail
    rest = b"".join(chunks).decode()
    database_fault.clear()
    assert "$44,110.00" not in rest
    assert f'<div class="messages" role="alert"><p class="message error">{DATABASE_ERROR}' in rest
    page = head + rest
    # A whole document, closed as every page is: never a silently truncated one.
    assert page.rstrip().endswith("</html>") and page.count("</main>") == 1
    assert page.count("</body>") == 1


def test_checks_and_redirects_come_before_the_stream(client, refreshed_user):
    anonymous = client.get("/")
    assert anonymous.status_code == 302 and not anonymous.streaming
    assert anonymous["Location"].startswith("/accounts/login/")
    client.force_login(refreshed_user)
    assert client.post("/").status_code == 405
    # Unknown range, period or view: the defaults, as before (no 400, no 500).
    odd = client.get("/", {"range": "<x>", "since": "\x00", "view": "everyone"})
    assert odd.status_code == 200 and "Net worth" in body(odd)


def test_the_rest_is_rendered_in_the_request_time_zone(refreshed_user):
    request = RequestFactory().get("/")
    request.user = refreshed_user
    request.session = SessionStore()
    request._messages = FallbackStorage(request)  # type: ignore[attr-defined]
    messages.info(request, "Hello")
    zones = []

    def build() -> dict[str, object]:
        zones.append(timezone.get_current_timezone_name())
        return dashboard_context(
            user=refreshed_user, range_key="90d", period_key="1m", household=False
        )

    with timezone.override("Asia/Tokyo"):
        response = render_streaming(request, "balances/dashboard.html", build)
    assert zones == []  # nothing slow read before the first byte
    page = body(response)  # the middleware has deactivated the zone by now
    assert zones == ["Asia/Tokyo"]
    assert page.count("Hello") == 1
