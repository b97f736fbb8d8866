"""Reads: a user's two-factor devices and recovery codes."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import AnonymousUser
from django_otp.plugins.otp_static.models import StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice


def totp_device_confirmed(*, user: AbstractBaseUser) -> TOTPDevice | None:
    """Return the user's confirmed authenticator-app device, if two-factor sign-in is on."""
    return TOTPDevice.objects.filter(user=user, confirmed=True).order_by("pk").first()


def two_factor_required(*, user: AbstractBaseUser | AnonymousUser) -> bool:
    """Return whether `user` may not use the app without two-factor sign-in."""
    return bool(settings.REQUIRE_STAFF_2FA and getattr(user, "is_staff", False))


def recovery_codes_left(*, user: AbstractBaseUser) -> int:
    """Return how many unused recovery codes `user` has."""
    return StaticToken.objects.filter(device__user=user, device__confirmed=True).count()
