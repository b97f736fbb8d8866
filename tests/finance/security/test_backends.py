"""`backends.UserBackend`: the session's user, with whether two-factor is on read beside it."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django_otp.plugins.otp_totp.models import TOTPDevice

from finance.security import selectors
from finance.security.backends import UserBackend
from tests.factories import UserFactory
from tests.finance.security.test_two_factor import enable_2fa, login

pytestmark = pytest.mark.django_db


def test_the_user_is_read_with_whether_two_factor_is_on_in_one_query() -> None:
    alice, bob = UserFactory(username="alice"), UserFactory(username="bob")
    TOTPDevice.objects.create(user=alice, name="phone", confirmed=True)
    TOTPDevice.objects.create(user=bob, name="unconfirmed", confirmed=False)
    backend = UserBackend()
    with CaptureQueriesContext(connection) as queries:
        read_alice, read_bob = backend.get_user(alice.pk), backend.get_user(bob.pk)
    assert len(queries) == 2
    assert (read_alice, read_bob) == (alice, bob)
    # Read with the user (SQLite says 1 and 0).
    assert getattr(read_alice, selectors.TWO_FACTOR_ON) in (True, 1)
    assert getattr(read_bob, selectors.TWO_FACTOR_ON) in (False, 0)  # set up, never confirmed
    with CaptureQueriesContext(connection) as queries:
        assert selectors.two_factor_on(user=read_alice) is True
        assert selectors.two_factor_on(user=read_bob) is False
    assert len(queries) == 0
    # A user read some other way: one query.
    assert selectors.two_factor_on(user=UserFactory._meta.model.objects.get(pk=alice.pk))


def test_an_unknown_inactive_or_malformed_user_id_is_nobody() -> None:
    inactive = UserFactory(username="carol", is_active=False)
    assert UserBackend().get_user(inactive.pk) is None
    assert UserBackend().get_user(inactive.pk + 1000) is None
    assert UserBackend().get_user("1; DROP TABLE auth_user") is None
    assert UserBackend().get_user(str(UserFactory(username="dave").pk)).username == "dave"


def test_a_signed_in_request_reads_the_device_only_with_the_user() -> None:
    client = Client()
    client.force_login(UserFactory(username="alice"))
    with CaptureQueriesContext(connection) as queries:
        assert client.get("/settings/alerts/").status_code == 200
    device_reads = [q["sql"] for q in queries if "otp_totp_totpdevice" in q["sql"]]
    assert len(device_reads) == 1 and '"auth_user"' in device_reads[0]


def test_turning_two_factor_on_reaches_a_session_signed_in_before() -> None:
    UserFactory(username="alice")
    earlier = Client()
    assert login(earlier, "alice").status_code == 302
    assert earlier.get("/").status_code == 200
    enable_2fa("alice")  # in another session
    response = earlier.get("/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/two-factor/verify/")
