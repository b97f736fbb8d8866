"""`balances.services.api_tokens`: create (the token once, only its hash kept), revoke,
authenticate."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from balances.models import ApiToken
from balances.services import api_tokens
from balances.services.api_tokens import ApiTokenRejected
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_create_returns_the_token_once_and_stores_only_its_hash() -> None:
    user = UserFactory()
    token, text = api_tokens.api_token_create(
        user=user, name="  Home Assistant ", scope="write", expires_in_days=30
    )
    assert text.startswith("bal_") and len(text) >= 4 + 43
    stored = ApiToken.objects.get(pk=token.pk)
    assert stored.name == "Home Assistant" and stored.scope == "write"
    assert stored.token_hash == hashlib.sha256(text.encode()).hexdigest()
    assert stored.prefix == text[:8]
    row = ApiToken.objects.filter(pk=token.pk).values().get()
    assert not [value for value in row.values() if isinstance(value, str) and text in value]
    assert stored.expires_at is not None
    assert abs(stored.expires_at - (timezone.now() + timedelta(days=30))) < timedelta(minutes=1)
    # Every token is new.
    assert api_tokens.api_token_create(user=user, name="again")[1] != text


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"name": "  "}, "Give the token a name"),
        ({"name": "x" * 101}, "at most 100 characters"),
        ({"name": "n", "scope": "admin"}, "scope is read, or read and write"),
        ({"name": "n", "expires_in_days": 0}, "expires in 1 to 3650 days"),
        ({"name": "n", "expires_in_days": 3651}, "expires in 1 to 3650 days"),
    ],
)
def test_create_refuses_bad_input_and_saves_nothing(kwargs: dict, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        api_tokens.api_token_create(user=UserFactory(), **kwargs)
    assert not ApiToken.objects.exists()


def test_revoke_only_the_users_own_token_and_only_once() -> None:
    alice, bob = UserFactory(), UserFactory()
    token, text = api_tokens.api_token_create(user=alice, name="a")
    assert api_tokens.api_token_revoke(user=bob, token_id=token.pk) is None
    assert api_tokens.api_token_authenticate(token=text).pk == token.pk
    revoked = api_tokens.api_token_revoke(user=alice, token_id=token.pk)
    assert revoked is not None and revoked.revoked_at is not None
    first = revoked.revoked_at
    again = api_tokens.api_token_revoke(user=alice, token_id=token.pk)
    assert again is not None and again.revoked_at == first
    with pytest.raises(ApiTokenRejected, match="revoked"):
        api_tokens.api_token_authenticate(token=text)
    assert api_tokens.api_token_revoke(user=alice, token_id=999999) is None


def test_authenticate_refuses_unknown_expired_and_inactive() -> None:
    user = UserFactory()
    token, text = api_tokens.api_token_create(user=user, name="a", expires_in_days=1)
    assert api_tokens.api_token_authenticate(token=text).user == user
    for wrong in ("", "bal_", text + "x", text[:-1], "not-ours", "bal_" + "a" * 500):
        with pytest.raises(ApiTokenRejected, match="Invalid token"):
            api_tokens.api_token_authenticate(token=wrong)
    ApiToken.objects.filter(pk=token.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    with pytest.raises(ApiTokenRejected, match="expired"):
        api_tokens.api_token_authenticate(token=text)
    _token, other = api_tokens.api_token_create(user=user, name="b")
    user.is_active = False
    user.save()
    with pytest.raises(ApiTokenRejected, match="Invalid token"):
        api_tokens.api_token_authenticate(token=other)


def test_usable_tokens_are_the_same_in_sql_and_python() -> None:
    user = UserFactory()
    now = timezone.now()
    made = [
        api_tokens.api_token_create(user=user, name=str(n), expires_in_days=days)[0]
        for n, days in enumerate((None, 1, 2, 3))
    ]
    ApiToken.objects.filter(pk=made[1].pk).update(expires_at=now - timedelta(seconds=1))
    ApiToken.objects.filter(pk=made[2].pk).update(revoked_at=now)
    usable_sql = set(ApiToken.objects.usable().values_list("pk", flat=True))
    usable_py = {t.pk for t in ApiToken.objects.all() if t.is_usable}
    assert usable_sql == usable_py == {made[0].pk, made[3].pk}
