"""Reads of a user's API tokens (never the token: only its hash is stored)."""

from __future__ import annotations

from django.contrib.auth.models import User
from django.db.models import QuerySet

from balances.models import ApiToken


def api_tokens_for_user(*, user: User) -> QuerySet[ApiToken]:
    """Return `user`'s tokens, revoked ones too, newest first."""
    return ApiToken.objects.filter(user=user).order_by("-created_at", "-pk")
