"""Profile settings: the user's main currency and time zone (services and the choices they
accept)."""

from __future__ import annotations

import re
import zoneinfo
from functools import cache

from django.contrib.auth.models import User
from django.core.exceptions import ValidationError

from balances.models import Profile
from balances.selectors import accounts

# Offered to everyone, besides the currencies of the user's own accounts.
COMMON_CURRENCIES = (
    "USD",
    "EUR",
    "GBP",
    "CAD",
    "AUD",
    "NZD",
    "CHF",
    "JPY",
    "SEK",
    "NOK",
    "DKK",
    "PLN",
    "MXN",
    "BRL",
    "INR",
    "SGD",
    "HKD",
)
CODE_RE = re.compile(r"^[A-Z]{3}$")


def currency_choices(*, user: User) -> list[str]:
    """Return the codes `user` may choose: their accounts' currencies, then common ones."""
    own = accounts.currencies_for_user(user=user)
    return own + [c for c in COMMON_CURRENCIES if c not in own]


@cache
def time_zone_choices() -> tuple[str, ...]:
    """Return every IANA time zone name this machine knows, sorted (read once a process)."""
    return tuple(sorted(zoneinfo.available_timezones()))


def profile_get_or_create(*, user: User) -> Profile:
    """Return `user`'s Profile, creating it (and its random plaid_user_id) on first use."""
    profile, _ = Profile.objects.get_or_create(user=user)
    return profile


def profile_set_main_currency(*, user: User, currency: str) -> Profile:
    """Set `user`'s main currency; raise ValidationError (nothing saved) for a bad code."""
    code = (currency or "").strip().upper()
    if not CODE_RE.match(code):
        raise ValidationError("Enter a three-letter currency code, such as USD or EUR.")
    if code not in currency_choices(user=user):
        raise ValidationError(
            f"{code} is neither a currency of your accounts nor one of the common "
            "currencies offered here."
        )
    profile = profile_get_or_create(user=user)
    profile.main_currency = code
    profile.save(update_fields=["main_currency"])
    return profile


def profile_set_time_zone(*, user: User, time_zone: str) -> Profile:
    """Set `user`'s time zone (an IANA name such as Europe/Paris); raise ValidationError
    (nothing saved) for a name this machine does not know."""
    name = (time_zone or "").strip()
    if name not in time_zone_choices():
        raise ValidationError(
            "Choose a time zone from the list, such as Europe/Paris or America/New_York."
        )
    profile = profile_get_or_create(user=user)
    profile.time_zone = name
    profile.save(update_fields=["time_zone"])
    return profile
