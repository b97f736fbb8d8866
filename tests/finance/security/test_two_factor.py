"""Optional TOTP two-factor sign-in, mandatory for staff under REQUIRE_STAFF_2FA."""

from __future__ import annotations

import base64
import hashlib
import re
from typing import Any

import pytest
from django.test import Client
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from tests.factories import UserFactory
from tests.helpers import body

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
    on = client.post("/accounts/two-factor/", {"token": code(device)})
    assert on.status_code == 200 and "Your recovery codes" in body(on)
    device.refresh_from_db()
    # A code is accepted once: let later sign-ins use the next one.
    device.last_t = -1
    device.save()
    return device


def test_setup_page_shows_secret_and_inline_svg_qr_code() -> None:
    client = Client()
    client.force_login(UserFactory(username="alice"))
    page = client.get("/accounts/two-factor/")
    html = body(page)
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
    assert response.status_code == 200 and "not valid" in body(response)
    assert not TOTPDevice.objects.get(pk=device.pk).confirmed
    assert "6-digit" in body(client.post("/accounts/two-factor/", {"token": "12ab"}))


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
    assert response.status_code == 400 and "Too many wrong codes" in body(response)
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
    assert setup.status_code == 200 and "Staff accounts must" in body(setup)

    device = TOTPDevice.objects.get(user__username="root")
    response = client.post("/accounts/two-factor/", {"token": code(device), "next": "/admin/"})
    # The recovery codes first, shown once; then on to where the user was going.
    assert '<a href="/admin/">I have saved them: continue</a>' in body(response)
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
        html = body(page)
        assert device.key not in html and secret not in html, url
    for url in (base + "config/", base + "qrcode/"):
        assert root.get(url).status_code == 403, url


# --- What a refused code is told, and recovery codes (issue 19) -------------------------------


def test_a_right_code_inside_the_throttle_is_told_how_long_to_wait() -> None:
    UserFactory(username="alice")
    device = enable_2fa("alice")
    client = Client()
    login(client, "alice")
    wrong = f"{(int(code(device)) + 1) % 1000000:06d}"
    first = body(client.post("/accounts/two-factor/verify/", {"token": wrong}))
    assert "not valid" in first and "Wait" not in first
    assert "autofocus" in first  # the code page is for the code: the cursor starts there
    page = body(client.post("/accounts/two-factor/verify/", {"token": code(device)}))
    assert re.search(r"Too many wrong codes\. Wait 1 second, then try", page)  # 1 s after one
    assert "clock" not in page


def test_a_code_used_just_before_is_told_so() -> None:
    UserFactory(username="alice")
    device = enable_2fa("alice")
    first = Client()
    login(first, "alice")
    used = code(device)
    assert first.post("/accounts/two-factor/verify/", {"token": used}).status_code == 302
    second = Client()  # another browser, the same code within its 30 seconds
    login(second, "alice")
    response = second.post("/accounts/two-factor/verify/", {"token": used})
    page = body(response)
    assert response.status_code == 400
    assert "This code was just used" in page and "clock" not in page


def recovery_codes(page: str) -> list[str]:
    return re.findall(r"<code>([a-z2-7]{4}-[a-z2-7]{4})</code>", page)


def turn_on(client: Client, username: str) -> tuple[TOTPDevice, list[str]]:
    client.force_login(UserFactory._meta.model.objects.get(username=username))
    client.get("/accounts/two-factor/")
    device = TOTPDevice.objects.get(user__username=username)
    page = body(client.post("/accounts/two-factor/", {"token": code(device)}))
    device.refresh_from_db()
    device.last_t = -1
    device.save()
    return device, recovery_codes(page)


def test_ten_recovery_codes_are_shown_once_and_each_signs_in_once() -> None:
    UserFactory(username="alice")
    client = Client()
    _device, codes = turn_on(client, "alice")
    assert len(codes) == 10 and len(set(codes)) == 10
    status = body(client.get("/accounts/two-factor/"))
    assert "10 recovery codes left" in status
    assert not any(c in status or c.replace("-", "") in status for c in codes)  # shown once

    browser = Client()
    login(browser, "alice")
    response = browser.post("/accounts/two-factor/verify/", {"token": codes[0], "next": "/"})
    assert response.status_code == 302 and response["Location"] == "/"
    page = body(browser.get("/"))
    assert browser.get("/").status_code == 200
    assert "Signed in with a recovery code" in page and "9 recovery codes left" in page

    again = Client()
    login(again, "alice")
    reused = again.post("/accounts/two-factor/verify/", {"token": codes[0]})
    assert reused.status_code == 400  # used up
    assert again.get("/")["Location"].startswith("/accounts/two-factor/verify/")
    # Typed without the hyphen, in capitals: still the code (after django-otp's wait).
    from django_otp.plugins.otp_static.models import StaticDevice

    StaticDevice.objects.get(user__username="alice").throttle_reset()
    typed = codes[1].replace("-", "").upper()
    assert again.post("/accounts/two-factor/verify/", {"token": typed}).status_code == 302
    assert "8 recovery codes left" in body(again.get("/accounts/two-factor/"))


def test_recovery_codes_can_be_made_anew_and_the_old_ones_stop_working() -> None:
    UserFactory(username="alice")
    client = Client()
    _device, old = turn_on(client, "alice")
    page = body(client.post("/accounts/two-factor/recovery-codes/"))
    new = recovery_codes(page)
    assert len(new) == 10 and not set(new) & set(old)
    # Downloadable: a text file of the same codes.
    (href,) = re.findall(r'href="(data:text/plain[^"]+)"\s+download="([^"]+)"', page)
    from urllib.parse import unquote

    assert all(c in unquote(href[0]) for c in new) and href[1].endswith(".txt")
    browser = Client()
    login(browser, "alice")
    assert browser.post("/accounts/two-factor/verify/", {"token": old[0]}).status_code == 400


def test_recovery_codes_need_two_factor_on() -> None:
    client = Client()
    client.force_login(UserFactory(username="alice"))
    response = client.post("/accounts/two-factor/recovery-codes/")
    assert response.status_code == 302
    from django_otp.plugins.otp_static.models import StaticToken

    assert not StaticToken.objects.exists()


def test_turning_it_off_removes_the_recovery_codes_and_the_status_page_has_no_autofocus() -> None:
    UserFactory(username="alice")
    client = Client()
    device, _codes = turn_on(client, "alice")
    status = body(client.get("/accounts/two-factor/"))
    assert "autofocus" not in status  # the cursor is not put in "Turn off"
    response = client.post("/accounts/two-factor/disable/", {"token": code(device)})
    assert response.status_code == 302
    from django_otp.plugins.otp_static.models import StaticDevice

    assert not StaticDevice.objects.filter(user__username="alice").exists()


def test_recovery_codes_are_stored_as_keyed_digests_and_survive_a_key_rotation(settings) -> None:
    from cryptography.fernet import Fernet
    from django_otp.plugins.otp_static.models import StaticDevice, StaticToken

    UserFactory(username="alice")
    _device, codes = turn_on(Client(), "alice")
    stored = set(StaticToken.objects.values_list("token", flat=True))
    assert len(stored) == 10
    for c in codes:  # neither the code nor its plain hash is in the database
        plain = c.replace("-", "")
        assert plain not in stored and hashlib.sha256(plain.encode()).hexdigest()[:16] not in stored

    # A new key first, the old one kept for decryption: the codes still work.
    old_key = settings.FIELD_ENCRYPTION_KEYS[0]
    settings.FIELD_ENCRYPTION_KEYS = [Fernet.generate_key().decode(), old_key]
    browser = Client()
    login(browser, "alice")
    assert browser.post("/accounts/two-factor/verify/", {"token": codes[0]}).status_code == 302
    # The old key removed: codes made under it no longer match anything.
    settings.FIELD_ENCRYPTION_KEYS = settings.FIELD_ENCRYPTION_KEYS[:1]
    StaticDevice.objects.get(user__username="alice").throttle_reset()
    other = Client()
    login(other, "alice")
    assert other.post("/accounts/two-factor/verify/", {"token": codes[1]}).status_code == 400
