"""Writes: turning two-factor sign-in on and off, checking codes, recovery codes."""

from __future__ import annotations

import hashlib
import hmac
import math
import time
from dataclasses import dataclass
from typing import Any

import django_otp
from django.conf import settings
from django.contrib.auth.models import User
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone
from django_otp.oath import TOTP
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

DEVICE_NAME = "Authenticator app"
RECOVERY_DEVICE_NAME = "Recovery codes"
RECOVERY_CODE_COUNT = 10

# What checking a code found (CodeCheck.result).
OK = "ok"
WRONG = "wrong"
REUSED = "reused"  # the authenticator's code already used: it is good once
THROTTLED = "throttled"  # django-otp's wait after a wrong code has not passed yet


@dataclass(frozen=True)
class CodeCheck:
    """The outcome of one code: `result`, and for THROTTLED the seconds left to wait."""

    result: str
    wait_seconds: int = 0
    # Set when a recovery code was accepted: how many remain.
    recovery_codes_left: int | None = None

    @property
    def ok(self) -> bool:
        return self.result == OK


def _throttled(device: Any) -> CodeCheck | None:
    """Return THROTTLED with the seconds left when `device` refuses tries for now."""
    allowed, data = device.verify_is_allowed()
    if allowed:
        return None
    until = (data or {}).get("locked_until")
    wait = math.ceil((until - timezone.now()).total_seconds()) if until else 1
    return CodeCheck(THROTTLED, wait_seconds=max(1, wait))


def _was_just_used(device: TOTPDevice, token: str) -> bool:
    """Return whether `token` is a code of `device` from a time step already used.

    django-otp accepts each time step's code once (`last_t`) and answers a second use as
    a wrong code; this tells the two apart, with the same tolerance it allows.
    """
    if not token.isdigit():
        return False
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    totp.time = time.time()
    for offset in range(-device.tolerance, device.tolerance + 1):
        totp.drift = device.drift + offset
        if totp.t() <= device.last_t and f"{totp.token():0{device.digits}d}" == token:
            return True
    return False


def totp_code_check(*, device: TOTPDevice, token: str) -> CodeCheck:
    """Check `token` against `device` (a wrong one counts towards django-otp's throttle:
    1 s, 2 s, 4 s, ... between tries); change nothing else."""
    throttled = _throttled(device)
    if throttled is not None:
        return throttled
    reused = _was_just_used(device, token)
    if device.verify_token(token):
        return CodeCheck(OK)
    return CodeCheck(REUSED if reused else WRONG)


def recovery_code_normalize(token: str) -> str:
    """Return a recovery code as stored: lower case, without spaces or hyphens."""
    return "".join(token.split()).replace("-", "").lower()


def _recovery_code_digests(code: str) -> list[str]:
    """Return what is stored for a recovery code under each FIELD_ENCRYPTION_KEY, the
    current key's first.

    A recovery code is a user secret, so the database keeps only a keyed digest of it:
    HMAC-SHA256 under the key, cut to the 16 characters of django-otp's token column (64
    bits: a lookup key, never a secret on its own). A stolen database without the key
    gives no code, and the codes' 40 random bits cannot be tried offline. Codes made under
    a key later removed from FIELD_ENCRYPTION_KEY stop working (the user makes new ones).
    """
    message = recovery_code_normalize(code).encode()
    return [
        hmac.new(key.encode(), message, hashlib.sha256).hexdigest()[:16]
        for key in settings.FIELD_ENCRYPTION_KEYS
    ]


def recovery_code_check(*, user: User, token: str) -> CodeCheck:
    """Use up one of `user`'s recovery codes if `token` is one (each works once)."""
    device = StaticDevice.objects.filter(user=user, confirmed=True).order_by("pk").first()
    if device is None:
        return CodeCheck(WRONG)
    throttled = _throttled(device)
    if throttled is not None:
        return throttled
    digests = _recovery_code_digests(token)
    stored = set(device.token_set.filter(token__in=digests).values_list("token", flat=True))
    # One verify_token call either way: it uses the code up, or counts a wrong try.
    digest = next((d for d in digests if d in stored), digests[0])
    if not device.verify_token(digest):
        return CodeCheck(WRONG)
    return CodeCheck(OK, recovery_codes_left=device.token_set.count())


def totp_device_pending(*, user: User) -> TOTPDevice:
    """Return the user's unconfirmed device, creating one with a fresh secret if needed.

    Reusing it means reloading the setup page keeps showing the secret already scanned.
    """
    device = TOTPDevice.objects.filter(user=user, confirmed=False).order_by("pk").first()
    if device is None:
        device = TOTPDevice.objects.create(user=user, name=DEVICE_NAME, confirmed=False)
    return device


def totp_device_confirm(*, request: HttpRequest, user: User, token: str) -> CodeCheck:
    """Confirm the pending device if `token` is its current code; verify this session.

    Change nothing for a wrong, reused or throttled code.
    """
    device = totp_device_pending(user=user)
    check = totp_code_check(device=device, token=token)
    if not check.ok:
        return check
    with transaction.atomic():
        device.confirmed = True
        device.save(update_fields=["confirmed"])
        TOTPDevice.objects.filter(user=user).exclude(pk=device.pk).delete()
    _verified(request, device)
    return check


def second_factor_verify(*, request: HttpRequest, user: User, token: str) -> CodeCheck:
    """Mark this session verified if `token` is the authenticator's current code (six
    digits) or one of the user's recovery codes (used up)."""
    device = TOTPDevice.objects.filter(user=user, confirmed=True).order_by("pk").first()
    if device is None:
        return CodeCheck(WRONG)
    if token.isdigit():
        check = totp_code_check(device=device, token=token)
        verified: Any = device
    else:
        check = recovery_code_check(user=user, token=token)
        verified = StaticDevice.objects.filter(user=user, confirmed=True).first()
    if check.ok:
        _verified(request, verified)
    return check


def recovery_codes_create(*, user: User) -> list[str]:
    """Give `user` RECOVERY_CODE_COUNT new single-use recovery codes, replacing any they
    had; return them (the only time they are readable: show them once)."""
    codes = [StaticToken.random_token() for _ in range(RECOVERY_CODE_COUNT)]
    with transaction.atomic():
        StaticDevice.objects.filter(user=user).delete()
        device = StaticDevice.objects.create(user=user, name=RECOVERY_DEVICE_NAME, confirmed=True)
        StaticToken.objects.bulk_create(
            StaticToken(device=device, token=_recovery_code_digests(c)[0]) for c in codes
        )
    return codes


def _verified(request: HttpRequest, device: Any) -> None:
    """Mark the session verified under a new session key (no fixation across the step)."""
    request.session.cycle_key()
    django_otp.login(request, device)


def totp_devices_remove(*, user: User) -> None:
    """Turn two-factor sign-in off for `user` (its recovery codes go with it)."""
    with transaction.atomic():
        TOTPDevice.objects.filter(user=user).delete()
        StaticDevice.objects.filter(user=user).delete()
