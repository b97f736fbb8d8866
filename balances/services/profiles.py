"""Profile settings: the user's main currency (a service and the choices it accepts)."""

from __future__ import annotations

import re

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
