"""Personal access tokens of the read API: create, revoke, and authenticate a request's.

A token is `bal_` + 32 random bytes (URL-safe base64), shown once when it is created. Only
its SHA-256 is stored: a 256-bit random token needs no salt or slow hash, and a stolen
database yields no usable token. Never log, render (after creation) or queue a token.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.utils import timezone

from balances.models import ApiToken

TOKEN_PREFIX = "bal_"  # noqa: S105 (not a secret: what every token starts with)
# Characters of a token kept to tell tokens apart in lists: "bal_" and 4 random ones.
SHOWN_PREFIX_LENGTH = len(TOKEN_PREFIX) + 4
MAX_NAME_LENGTH = 100
MAX_EXPIRY_DAYS = 3650
# `last_used_at` is written at most once per this many seconds per token: one UPDATE a
# minute, not one per request.
LAST_USED_PRECISION = timedelta(seconds=60)


class ApiTokenRejected(Exception):
    """The presented token does not authenticate; the message says why, for the caller."""


def token_hash(token: str) -> str:
    """Return the hex SHA-256 of `token`: what is stored and looked up."""
    return hashlib.sha256(token.encode()).hexdigest()


def api_token_create(
    *,
    user: User,
    name: str,
    scope: str = ApiToken.Scope.READ,
    expires_in_days: int | None = None,
) -> tuple[ApiToken, str]:
    """Create a token for `user`; return it with the token's text (shown once, never stored).

    `expires_in_days` None: it never expires. Raise ValidationError (nothing saved) for an
    empty or too long name, an unknown scope or an expiry outside 1..MAX_EXPIRY_DAYS days.
    """
    name = (name or "").strip()
    if not name:
        raise ValidationError("Give the token a name, such as the app that will use it.")
    if len(name) > MAX_NAME_LENGTH:
        raise ValidationError(f"A token's name has at most {MAX_NAME_LENGTH} characters.")
    if scope not in ApiToken.Scope.values:
        raise ValidationError("A token's scope is read, or read and write.")
    expires_at: datetime | None = None
    if expires_in_days is not None:
        if not 1 <= expires_in_days <= MAX_EXPIRY_DAYS:
            raise ValidationError(
                f"A token expires in 1 to {MAX_EXPIRY_DAYS} days, or never (leave it empty)."
            )
        expires_at = timezone.now() + timedelta(days=expires_in_days)
    text = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken.objects.create(
        user=user,
        name=name,
        scope=scope,
        token_hash=token_hash(text),
        prefix=text[:SHOWN_PREFIX_LENGTH],
        expires_at=expires_at,
    )
    return token, text


def api_token_revoke(*, user: User, token_id: int) -> ApiToken | None:
    """Revoke `user`'s token `token_id` at once; return it, or None when `user` has no such
    token (another user's too). Revoking a revoked token changes nothing."""
    token = ApiToken.objects.filter(user=user, pk=token_id).first()
    if token is None:
        return None
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
    return token


def api_token_authenticate(*, token: str) -> ApiToken:
    """Return the usable token whose text is `token`, with its user, and note its use.

    Raise ApiTokenRejected for an unknown, revoked or expired token, or one whose user is
    inactive. Cost: one query, plus one UPDATE at most once a minute per token.
    """
    if not token.startswith(TOKEN_PREFIX) or len(token) > 200:
        raise ApiTokenRejected("Invalid token.")
    found = ApiToken.objects.select_related("user").filter(token_hash=token_hash(token)).first()
    if found is None or not found.user.is_active:
        raise ApiTokenRejected("Invalid token.")
    if found.is_revoked:
        raise ApiTokenRejected("This token was revoked.")
    if found.is_expired:
        raise ApiTokenRejected("This token has expired.")
    now = timezone.now()
    if found.last_used_at is None or now - found.last_used_at >= LAST_USED_PRECISION:
        # A plain UPDATE: concurrent requests may each write; the last one wins, harmlessly.
        ApiToken.objects.filter(pk=found.pk).update(last_used_at=now)
        found.last_used_at = now
    return found
