"""`sessions.SessionStore`: Django's database sessions, read with one plain SELECT."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.conf import settings
from django.contrib.sessions.models import Session
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from finance.security.sessions import SessionStore

pytestmark = pytest.mark.django_db


def test_it_is_the_configured_engine() -> None:
    assert settings.SESSION_ENGINE == "finance.security.sessions"


def test_a_live_session_is_read_in_one_statement() -> None:
    created = SessionStore()
    created["answer"] = 42
    created.create()
    read = SessionStore(created.session_key)
    with CaptureQueriesContext(connection) as queries:
        assert read["answer"] == 42
    assert len(queries) == 1
    assert read.session_key == created.session_key


def test_an_expired_unknown_or_malformed_session_is_empty_and_its_key_forgotten() -> None:
    expired = SessionStore()
    expired["answer"] = 42
    expired.create()
    Session.objects.filter(pk=expired.session_key).update(
        expire_date=timezone.now() - timedelta(seconds=1)
    )
    for key in (expired.session_key, "x" * 32, "short", None, "' OR 1=1 --" + "x" * 20):
        session = SessionStore(key)
        assert session.load() == {}, key
        assert session.session_key is None, key
    # A new session after that gets a key of its own.
    session = SessionStore(expired.session_key)
    session["answer"] = 1
    session.save()
    assert session.session_key not in (None, expired.session_key)
