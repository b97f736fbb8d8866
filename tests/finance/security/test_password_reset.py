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
