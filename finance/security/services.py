"""Writes: turning two-factor sign-in on and off."""

from __future__ import annotations

import django_otp
from django.contrib.auth.models import User
from django.db import transaction
from django.http import HttpRequest
from django_otp.plugins.otp_totp.models import TOTPDevice

DEVICE_NAME = "Authenticator app"


def totp_device_pending(*, user: User) -> TOTPDevice:
    """Return the user's unconfirmed device, creating one with a fresh secret if needed.

    Reusing it means reloading the setup page keeps showing the secret already scanned.
    """
    device = TOTPDevice.objects.filter(user=user, confirmed=False).order_by("pk").first()
    if device is None:
        device = TOTPDevice.objects.create(user=user, name=DEVICE_NAME, confirmed=False)
    return device


def totp_device_confirm(*, request: HttpRequest, user: User, token: str) -> bool:
    """Confirm the pending device if `token` is its current code; verify this session.

    Return False (and change nothing) for a wrong or throttled code.
    """
    device = totp_device_pending(user=user)
    allowed, _ = device.verify_is_allowed()
    if not allowed or not device.verify_token(token):
        return False
    with transaction.atomic():
        device.confirmed = True
        device.save(update_fields=["confirmed"])
        TOTPDevice.objects.filter(user=user).exclude(pk=device.pk).delete()
    _verified(request, device)
    return True


def totp_device_verify(*, request: HttpRequest, device: TOTPDevice, token: str) -> bool:
    """Mark this session verified if `token` is the device's current code.

    django-otp throttles a device after failures (1 s, 2 s, 4 s, ... between tries) and
    refuses a code used before.
    """
    allowed, _ = device.verify_is_allowed()
    if not allowed or not device.verify_token(token):
        return False
    _verified(request, device)
    return True


def _verified(request: HttpRequest, device: TOTPDevice) -> None:
    """Mark the session verified under a new session key (no fixation across the step)."""
    request.session.cycle_key()
    django_otp.login(request, device)


def totp_devices_remove(*, user: User) -> None:
    """Turn two-factor sign-in off for `user`."""
    TOTPDevice.objects.filter(user=user).delete()
