"""Login hardening: throttling (django-axes), password rules, session cookies and logout."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.test import Client

from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery staple"


def login(username: str, password: str, *, ip: str = "203.0.113.7", client: Client | None = None):
    client = client or Client()
    return client.post(
        "/accounts/login/", {"username": username, "password": password}, REMOTE_ADDR=ip
    )


def test_account_is_locked_after_the_configured_failures_from_any_address(settings: Any) -> None:
    UserFactory(username="alice")
    limit = settings.AXES_FAILURE_LIMIT
    assert limit >= 3
    for n in range(limit - 1):
        assert login("alice", "wrong", ip=f"198.51.100.{n}").status_code == 200
    # One short of the limit: the right password still works (and resets the count).
    assert login("alice", PASSWORD, ip="198.51.100.200").status_code == 302
    for n in range(limit):
        login("alice", "wrong", ip=f"198.51.100.{n}")
    locked = login("alice", PASSWORD, ip="192.0.2.99")
    assert locked.status_code == 429
    assert "Too many failed logins" in locked.content.decode()
    assert "_auth_user_id" not in Client().session
    # Another account is not affected.
    UserFactory(username="bob")
    assert login("bob", PASSWORD, ip="192.0.2.100").status_code == 302


def test_address_is_locked_after_the_configured_failures_on_any_account(settings: Any) -> None:
    UserFactory(username="carol")
    for n in range(settings.AXES_FAILURE_LIMIT):
        login(f"nobody{n}", "wrong", ip="203.0.113.50")
    assert login("carol", PASSWORD, ip="203.0.113.50").status_code == 429
    assert login("carol", PASSWORD, ip="203.0.113.51").status_code == 302


def test_forwarded_for_header_is_ignored_without_trusted_proxies(settings: Any) -> None:
    """A client cannot dodge the address lockout by inventing X-Forwarded-For values."""
    UserFactory(username="dave")
    assert settings.TRUSTED_PROXY_COUNT == 0
    for n in range(settings.AXES_FAILURE_LIMIT):
        Client().post(
            "/accounts/login/",
            {"username": f"x{n}", "password": "wrong"},
            REMOTE_ADDR="203.0.113.60",
            HTTP_X_FORWARDED_FOR=f"10.0.0.{n}",
        )
    assert login("dave", PASSWORD, ip="203.0.113.60").status_code == 429


def test_client_ip_behind_trusted_proxies(rf: Any, settings: Any) -> None:
    from finance.security.client_ip import client_ip

    settings.TRUSTED_PROXY_COUNT = 1
    request = rf.get("/", REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR="6.6.6.6, 198.51.100.9")
    assert client_ip(request) == "198.51.100.9"  # what our proxy saw, not the client's claim
    assert client_ip(rf.get("/", REMOTE_ADDR="198.51.100.3")) == "198.51.100.3"


@pytest.mark.parametrize(
    "password",
    ["short1!", "password1234", "123456789012345", "alice-alice-alice"],
)
def test_weak_passwords_are_refused(password: str) -> None:
    user = UserFactory.build(username="alice-alice-alice", email="alice@example.com")
    with pytest.raises(ValidationError):
        validate_password(password, user)


def test_strong_password_is_accepted() -> None:
    validate_password("violet-harbor-quartz-19", UserFactory.build(username="alice"))


def test_session_cookie_is_secure_httponly_samesite_in_production(settings: Any) -> None:
    settings.SESSION_COOKIE_SECURE = True
    settings.CSRF_COOKIE_SECURE = True
    UserFactory(username="erin")
    response = login("erin", PASSWORD)
    assert response.status_code == 302
    cookie = response.cookies[settings.SESSION_COOKIE_NAME]
    assert cookie["secure"] is True
    assert cookie["httponly"] is True
    assert cookie["samesite"] == "Lax"
    page = Client().get("/accounts/login/")
    csrf = page.cookies[settings.CSRF_COOKIE_NAME]
    assert csrf["secure"] is True and csrf["samesite"] == "Lax"


def test_password_change_logs_out_other_sessions() -> None:
    UserFactory(username="frank")
    laptop, phone = Client(), Client()
    assert login("frank", PASSWORD, client=laptop).status_code == 302
    assert login("frank", PASSWORD, client=phone, ip="203.0.113.8").status_code == 302
    assert phone.get("/").status_code == 200
    response = laptop.post(
        "/accounts/password_change/",
        {
            "old_password": PASSWORD,
            "new_password1": "violet-harbor-quartz-19",
            "new_password2": "violet-harbor-quartz-19",
        },
    )
    assert response.status_code == 302
    assert laptop.get("/").status_code == 200  # the session that changed it stays in
    response = phone.get("/")
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


@pytest.mark.parametrize("path", ["/accounts/login/", "/admin/login/"])
@pytest.mark.parametrize("username", ["a" * 151, "a" * 256, "a" * 10_000])
def test_an_overlong_username_is_a_form_error_that_records_nothing(
    path: str, username: str
) -> None:
    """Longer than any username: refused before authenticate(), so django-axes records no
    attempt (its 255-character column overflowed on PostgreSQL: a 500)."""
    from axes.models import AccessAttempt, AccessFailureLog

    response = Client(raise_request_exception=False).post(
        path, {"username": username, "password": "x"}, REMOTE_ADDR="203.0.113.9"
    )
    assert response.status_code == (400 if path == "/accounts/login/" else 200)
    assert response.context["form"].errors["username"]
    assert "at most 150 characters" in response.content.decode()  # says what is wrong
    assert not AccessAttempt.objects.exists() and not AccessFailureLog.objects.exists()


def test_a_wrong_password_is_still_recorded() -> None:
    """Not vacuous: a well-formed failed login does reach django-axes."""
    from axes.models import AccessAttempt

    UserFactory(username="grace")
    assert login("grace", "wrong").status_code == 200
    assert AccessAttempt.objects.filter(username="grace").exists()


def test_password_change_pages_are_the_apps_own() -> None:
    """Styled like the rest (the site's header, a card, labelled fields), not Django's."""
    UserFactory(username="grace")
    client = Client()
    login("grace", PASSWORD, client=client)
    page = client.get("/accounts/password_change/").content.decode()
    assert 'class="site-header"' in page and 'class="card narrow"' in page
    assert '<label for="id_old_password">' in page and 'class="muted field-help"' in page
    assert "Django administration" not in page
    response = client.post("/accounts/password_change/", {"old_password": "wrong"})
    assert 'role="alert"' in response.content.decode()
    done = client.get("/accounts/password_change/done/").content.decode()
    assert 'class="site-header"' in done and "Password changed" in done
