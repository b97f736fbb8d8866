"""Plaid's configuration as the commands that call Plaid see it: checked before any call.

A configuration error (`CONFIGURATION_CODES`: this server's Plaid keys missing or wrong) is
the operator's: the command stops with a clear error, and no Item's status is changed.
"""

from __future__ import annotations

from django.conf import settings
from django.core.management.base import CommandError

from balances.plaid.errors import CONFIGURATION_CODES, PlaidError

_HOW_TO_FIX = (
    "Set PLAID_CLIENT_ID, PLAID_SECRET and PLAID_ENV in the environment or in .env (see "
    ".env.example). With the offline emulator, run this command while `make run` is up: "
    "it writes the emulator's settings to .env for as long as it runs. No Item was changed."
)


def require_plaid_configured() -> None:
    """Stop the command, before any Plaid call, when this process has no Plaid keys."""
    if not settings.PLAID_CLIENT_ID or not settings.PLAID_SECRET:
        raise CommandError(
            f"Plaid is not configured (NOT_CONFIGURED): PLAID_CLIENT_ID and PLAID_SECRET are "
            f"not set for this command. {_HOW_TO_FIX}"
        )


def raise_if_operator_error(error: PlaidError) -> None:
    """Stop the command when Plaid refused this server's configuration, not an Item."""
    if error.code in CONFIGURATION_CODES:
        raise CommandError(
            f"Plaid refused this server's configuration ({error.code}: {error.message}). "
            f"{_HOW_TO_FIX}"
        ) from error
