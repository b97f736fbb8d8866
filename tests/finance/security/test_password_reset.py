"""Password reset by e-mail: only with EMAIL_URL, links from SITE_URL, throttled."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.core import mail

from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def email_on(settings: Any) -> Any:
    settings.EMAIL_CONFIGURED = True
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.SITE_URL = "https://money.example.org"
    settings.PASSWORD_RESET_PER_HOUR = 2
    return settings


def test_without_email_the_login_page_says_to_ask_an_administrator(client: Any) -> None:
    page = client.get("/accounts/login/").content.decode()
    assert "Ask the person who runs this site" in page
    assert "/accounts/password_reset/" not in page
    assert client.get("/accounts/password_reset/").status_code == 404
    assert client.post("/accounts/password_reset/", {"email": "a@b.c"}).status_code == 404


def test_a_reset_mail_links_to_site_url_and_sets_a_new_password(client: Any, email_on: Any) -> None:
    user = UserFactory(email="ann@example.com")
    assert "/accounts/password_reset/" in client.get("/accounts/login/").content.decode()
    response = client.post("/accounts/password_reset/", {"email": "ann@example.com"})
    assert response.status_code == 302
    assert len(mail.outbox) == 1
    body = mail.outbox[0].body
    link = re.search(r"https://money\.example\.org(/accounts/reset/\S+/)", body)
    assert link, body
    assert "testserver" not in body  # the request's host is not used
    page = client.get(link[1], follow=True)
    assert page.status_code == 200
    done = client.post(
        page.redirect_chain[-1][0],
        {"new_password1": "a brand new passphrase 9", "new_password2": "a brand new passphrase 9"},
    )
    assert done.status_code == 302
    user.refresh_from_db()
    assert user.check_password("a brand new passphrase 9")


def test_reset_mails_are_throttled(client: Any, email_on: Any) -> None:
    UserFactory(email="bo@example.com")
    for _ in range(2):
        assert (
            client.post("/accounts/password_reset/", {"email": "bo@example.com"}).status_code == 302
        )
    response = client.post("/accounts/password_reset/", {"email": "bo@example.com"})
    assert response.status_code == 429
    assert "Too many password-reset requests" in response.content.decode()
    assert len(mail.outbox) == 2


def _reset(client: Any, address: str, ip: str) -> int:
    return client.post("/accounts/password_reset/", {"email": address}, REMOTE_ADDR=ip).status_code


def test_one_client_cannot_mail_many_addresses(client: Any, email_on: Any) -> None:
    for n in range(3):
        UserFactory(email=f"user{n}@example.com")
    assert _reset(client, "user0@example.com", "203.0.113.7") == 302
    assert _reset(client, "user1@example.com", "203.0.113.7") == 302
    # A third address from the same client: refused, though that address got no mail yet.
    assert _reset(client, "user2@example.com", "203.0.113.7") == 429
    assert [m.to for m in mail.outbox] == [["user0@example.com"], ["user1@example.com"]]
    # Another client may still ask for it.
    assert _reset(client, "user2@example.com", "198.51.100.4") == 302
    assert len(mail.outbox) == 3


def test_many_clients_cannot_flood_one_inbox(client: Any, email_on: Any) -> None:
    UserFactory(email="cy@example.com")
    assert _reset(client, "cy@example.com", "203.0.113.1") == 302
    assert _reset(client, "CY@example.com ", "203.0.113.2") == 302  # the same address
    assert _reset(client, "cy@example.com", "203.0.113.3") == 429
    assert len(mail.outbox) == 2
