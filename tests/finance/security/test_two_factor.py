"""Optional TOTP two-factor sign-in, mandatory for staff under REQUIRE_STAFF_2FA."""

from __future__ import annotations

import base64
import re
from typing import Any

import pytest
from django.test import Client
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery staple"


def code(device: TOTPDevice, *, offset: int = 0) -> str:
    return f"{totp(device.bin_key, step=device.step, t0=device.t0, drift=offset):06d}"


def login(client: Client, username: str, path: str = "/accounts/login/") -> Any:
    return client.post(path, {"username": username, "password": PASSWORD})


def enable_2fa(username: str) -> TOTPDevice:
    client = Client()
    client.force_login(UserFactory._meta.model.objects.get(username=username))
    client.get("/accounts/two-factor/")
    device = TOTPDevice.objects.get(user__username=username)
    assert client.post("/accounts/two-factor/", {"token": code(device)}).status_code == 302
    device.refresh_from_db()
    # A code is accepted once: let later sign-ins use the next one.
    device.last_t = -1
    device.save()
    return device


def test_setup_page_shows_secret_and_inline_svg_qr_code() -> None:
    client = Client()
    client.force_login(UserFactory(username="alice"))
    page = client.get("/accounts/two-factor/")
    html = page.content.decode()
    device = TOTPDevice.objects.get(user__username="alice", confirmed=False)
    secret = base64.b32encode(device.bin_key).decode().rstrip("=")
    shown = re.search(r'<code class="secret">([A-Z2-7 ]+)</code>', html)
    assert shown and shown.group(1).replace(" ", "") == secret
    svg = re.search(r"<svg [^>]*>.*?</svg>", html, re.S)
    assert svg and "<path" in svg.group(0)
    assert "<script" not in svg.group(0) and "style=" not in html
    assert page["Cache-Control"].startswith("max-age=0") and "no-store" in page["Cache-Control"]
    # Reloading keeps the same secret (the one already scanned).
    client.get("/accounts/two-factor/")
    assert TOTPDevice.objects.get(user__username="alice").key == device.key


def test_wrong_code_does_not_turn_it_on() -> None:
    client = Client()
    client.force_login(UserFactory(username="alice"))
    client.get("/accounts/two-factor/")
    device = TOTPDevice.objects.get(user__username="alice")
    wrong = f"{(int(code(device)) + 1) % 1000000:06d}"
    response = client.post("/accounts/two-factor/", {"token": wrong})
    assert response.status_code == 200 and "not valid" in response.content.decode()
    assert not TOTPDevice.objects.get(pk=device.pk).confirmed
    assert "6-digit" in client.post("/accounts/two-factor/", {"token": "12ab"}).content.decode()


def test_sign_in_with_2fa_asks_for_the_code_before_anything_else() -> None:
    UserFactory(username="alice")
    device = enable_2fa("alice")
    client = Client()
    assert login(client, "alice").status_code == 302
    # Signed in with the password only: every page leads to the code prompt.
    for path in ("/", "/settings/", "/export/accounts.csv", "/accounts/two-factor/"):
        response = client.get(path)
        assert response.status_code == 302, path
        assert response["Location"].startswith("/accounts/two-factor/verify/"), path
    response = client.post("/refresh/")
    assert response["Location"].startswith("/accounts/two-factor/verify/")
    assert client.get("/accounts/two-factor/verify/").status_code == 200

    wrong = f"{(int(code(device)) + 1) % 1000000:06d}"
    assert client.post("/accounts/two-factor/verify/", {"token": wrong}).status_code == 400
    assert client.get("/")["Location"].startswith("/accounts/two-factor/verify/")

    # django-otp throttles after a failure (1 s, 2 s, ... before the next try): skip the wait.
    device.refresh_from_db()
    device.throttle_reset()
    before = client.session.session_key
    response = client.post("/accounts/two-factor/verify/", {"token": code(device), "next": "/"})
    assert response.status_code == 302 and response["Location"] == "/"
    assert client.session.session_key != before  # a new session key once verified
    assert client.get("/").status_code == 200


def test_repeated_wrong_codes_are_throttled() -> None:
    UserFactory(username="alice")
    device = enable_2fa("alice")
    client = Client()
    login(client, "alice")
    wrong = f"{(int(code(device)) + 1) % 1000000:06d}"
    client.post("/accounts/two-factor/verify/", {"token": wrong})
    # Immediately again, even with the right code: refused while throttled.
    response = client.post("/accounts/two-factor/verify/", {"token": code(device)})
    assert response.status_code == 400 and "Too many wrong codes" in response.content.decode()
    assert client.get("/").status_code == 302


def test_verify_refuses_an_outside_next_url() -> None:
    UserFactory(username="alice")
    device = enable_2fa("alice")
    client = Client()
    login(client, "alice")
    response = client.post(
        "/accounts/two-factor/verify/", {"token": code(device), "next": "https://evil.example/"}
    )
    assert response["Location"] == "/"


def test_turning_it_off_needs_a_current_code() -> None:
    UserFactory(username="alice")
    device = enable_2fa("alice")
    client = Client()
    login(client, "alice")
    client.post("/accounts/two-factor/verify/", {"token": code(device)})
    device.refresh_from_db()
    device.last_t = -1
    device.throttling_failure_count = 0
    device.save()
    wrong = f"{(int(code(device)) + 1) % 1000000:06d}"
    assert client.post("/accounts/two-factor/disable/", {"token": wrong}).status_code == 400
    assert TOTPDevice.objects.filter(user__username="alice").exists()
    device.refresh_from_db()
    device.throttle_reset()
    response = client.post("/accounts/two-factor/disable/", {"token": code(device)})
    assert response.status_code == 302
    assert not TOTPDevice.objects.filter(user__username="alice").exists()


def test_users_without_2fa_are_not_asked(settings: Any) -> None:
    settings.REQUIRE_STAFF_2FA = True
    UserFactory(username="alice")
    client = Client()
    login(client, "alice")
    assert client.get("/").status_code == 200


def test_staff_must_set_up_2fa_before_using_the_admin_or_the_app(settings: Any) -> None:
    settings.REQUIRE_STAFF_2FA = True
    UserFactory(username="root", is_staff=True, is_superuser=True)
    client = Client()
    assert login(client, "root", path="/admin/login/").status_code == 302
    for path in ("/admin/", "/admin/balances/plaiditem/", "/"):
        response = client.get(path)
        assert response["Location"].startswith("/accounts/two-factor/?next="), path
    setup = client.get("/accounts/two-factor/")
    assert setup.status_code == 200 and "Staff accounts must" in setup.content.decode()

    device = TOTPDevice.objects.get(user__username="root")
    response = client.post("/accounts/two-factor/", {"token": code(device), "next": "/admin/"})
    assert response["Location"] == "/admin/"
    assert client.get("/admin/").status_code == 200
    # Staff cannot turn it off while it is required.
    device.refresh_from_db()
    device.last_t = -1
    device.save()
    client.post("/accounts/two-factor/disable/", {"token": code(device)})
    assert TOTPDevice.objects.filter(user__username="root", confirmed=True).exists()

    # A new sign-in (e.g. the admin's login page) asks for the code again.
    again = Client()
    login(again, "root", path="/admin/login/")
    assert again.get("/admin/")["Location"].startswith("/accounts/two-factor/verify/")


def test_staff_without_the_requirement_may_skip_2fa(settings: Any) -> None:
    settings.REQUIRE_STAFF_2FA = False
    UserFactory(username="root", is_staff=True, is_superuser=True)
    client = Client()
    login(client, "root", path="/admin/login/")
    assert client.get("/admin/").status_code == 200


def test_admin_never_shows_a_users_totp_secret() -> None:
    UserFactory(username="alice")
    device = enable_2fa("alice")
    root = Client()
    root.force_login(UserFactory(username="root", is_staff=True, is_superuser=True))
    secret = base64.b32encode(device.bin_key).decode().rstrip("=")
    base = f"/admin/otp_totp/totpdevice/{device.pk}/"
    for url in ("/admin/otp_totp/totpdevice/", base + "change/"):
        page = root.get(url)
        assert page.status_code == 200, url
        html = page.content.decode()
        assert device.key not in html and secret not in html, url
    for url in (base + "config/", base + "qrcode/"):
        assert root.get(url).status_code == 403, url
