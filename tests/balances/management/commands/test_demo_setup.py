"""`manage.py demo_setup` (what `make run` runs): the demo password is made once and kept."""

from __future__ import annotations

import io
import re

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.test import Client

pytestmark = pytest.mark.django_db


def demo_setup() -> str:
    out = io.StringIO()
    call_command("demo_setup", stdout=out)
    return out.getvalue()


def test_first_run_prints_a_password_and_later_runs_keep_it_and_the_sessions(settings) -> None:
    settings.PLAID_ENV = "production"  # no sandbox Item: this test is about the password
    first = demo_setup()
    (password,) = re.findall(r"password '([^']+)'", first)
    assert "changepassword demo" in first

    client = Client()
    client.post("/accounts/login/", {"username": "demo", "password": password})
    assert client.get("/").status_code == 200

    second = demo_setup()
    assert password not in second
    assert "already had" in second and "changepassword demo" in second
    user = get_user_model().objects.get(username="demo")
    assert user.check_password(password)  # kept
    assert client.get("/").status_code == 200  # the browser session too (not sent to login)


def test_a_password_the_user_changed_is_kept(settings) -> None:
    settings.PLAID_ENV = "production"
    demo_setup()
    user = get_user_model().objects.get(username="demo")
    user.set_password("my own long passphrase")
    user.save()
    demo_setup()
    user.refresh_from_db()
    assert user.check_password("my own long passphrase")
