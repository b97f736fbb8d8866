"""`manage.py api_token_create`: the token alone on the last line, only its hash stored."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from balances.models import ApiToken
from balances.services import api_tokens
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_prints_a_working_token_alone_on_its_last_line() -> None:
    user = UserFactory(username="carol")
    out = StringIO()
    call_command("api_token_create", "carol", "--name", "Ghostfolio", stdout=out)
    last = out.getvalue().rstrip("\n").splitlines()[-1]
    assert last.startswith("bal_") and " " not in last
    token = api_tokens.api_token_authenticate(token=last)
    assert token.user == user and token.name == "Ghostfolio"
    assert token.scope == "read" and token.expires_at is None


def test_write_scope_and_expiry() -> None:
    UserFactory(username="carol")
    out = StringIO()
    call_command(
        "api_token_create", "carol", "--name", "HA", "--write", "--expires-in", "7", stdout=out
    )
    token = ApiToken.objects.get()
    assert token.scope == "write" and token.expires_at is not None
    assert "read and write" in out.getvalue()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nobody", "--name", "x"], "No user is called 'nobody'"),
        (["carol", "--name", " "], "Give the token a name"),
        (["carol", "--name", "x", "--expires-in", "0"], "expires in 1 to 3650 days"),
    ],
)
def test_refuses_bad_input(args: list[str], message: str) -> None:
    UserFactory(username="carol")
    with pytest.raises(CommandError, match=message):
        call_command("api_token_create", *args, stdout=StringIO())
    assert not ApiToken.objects.exists()
