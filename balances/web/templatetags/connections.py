"""Template helpers for bank connections: Plaid Link's script URL, an Item's pending state,
expiry warning, and what its error means with what to do (`error_help`, `relogin_help`)."""

from __future__ import annotations

from django import template
from django.conf import settings

from balances.models import PlaidItem
from balances.plaid.errors import help_for_error

register = template.Library()

# Warnings Plaid sends before an Item stops working; `expires_at` holds the date.
EXPIRY_WARNINGS = frozenset({"PENDING_EXPIRATION", "PENDING_DISCONNECT"})
# Re-login errors whose own help text says what to do; the rest get RELOGIN_HELP.
SPECIFIC_RELOGIN_HELP = frozenset({"ITEM_LOGIN_REQUIRED", "INVALID_CREDENTIALS", "ITEM_LOCKED"})
RELOGIN_HELP = "Your bank needs you to sign in again. Reconnect this bank."
# The bank had no balances as recent as the call accepted (Capital One's cards): not a
# broken connection.
OLD_BALANCES = "LAST_UPDATED_DATETIME_OUT_OF_RANGE"


@register.simple_tag
def plaid_link_script_url() -> str:
    """Return Plaid Link's script URL (Plaid's CDN, or the offline emulator's stand-in)."""
    return str(settings.PLAID_LINK_SCRIPT_URL)


@register.filter
def is_pending(item: PlaidItem) -> bool:
    return item.is_refresh_pending


@register.filter
def has_expiry_warning(item: PlaidItem) -> bool:
    return item.warning_code in EXPIRY_WARNINGS


@register.filter
def has_old_balances(item: PlaidItem) -> bool:
    """Whether `item`'s last refresh found no balances as recent as asked: the connection
    works, the balances shown are the last ones (each says how old)."""
    return item.error_code == OLD_BALANCES


@register.filter
def relogin_help(code: str) -> str:
    """Return what to tell the user about an Item that needs re-login with error `code`."""
    return help_for_error(code) if code in SPECIFIC_RELOGIN_HELP else RELOGIN_HELP


@register.filter
def error_help(code: str) -> str:
    """Return what an Item's error `code` means and what to do ("" without an error)."""
    return help_for_error(code) if code else ""
