"""What a Plaid error code means for an Item: its new status and what the user should do."""

from __future__ import annotations

from .models import PlaidItem

LOGIN_REQUIRED_CODES = frozenset(
    {
        "ITEM_LOGIN_REQUIRED",
        "INVALID_CREDENTIALS",
        "INVALID_MFA",
        "ITEM_LOCKED",
        "USER_SETUP_REQUIRED",
        "MFA_NOT_SUPPORTED",
        "INSUFFICIENT_CREDENTIALS",
    }
)
REVOKED_CODES = frozenset({"ITEM_NOT_FOUND", "INVALID_ACCESS_TOKEN", "USER_PERMISSION_REVOKED"})

_HELP = {
    "ITEM_LOGIN_REQUIRED": "Your bank needs you to sign in again. Reconnect this bank.",
    "INVALID_CREDENTIALS": "Your bank rejected the saved sign-in. Reconnect this bank.",
    "ITEM_LOCKED": "Your bank locked the account after failed sign-ins. Unlock it at your "
    "bank, then reconnect.",
    "ITEM_NOT_FOUND": "This connection no longer exists at Plaid. Unlink it and link the "
    "bank again.",
    "INVALID_ACCESS_TOKEN": "This connection no longer exists at Plaid. Unlink it and link "
    "the bank again.",
    "USER_PERMISSION_REVOKED": "Access was revoked at your bank. Link the bank again to "
    "resume updates.",
    "INSTITUTION_DOWN": "Your bank is not answering right now. We will retry automatically.",
    "INSTITUTION_NOT_RESPONDING": "Your bank is not answering right now. We will retry "
    "automatically.",
    "INSTITUTION_NOT_AVAILABLE": "Your bank is not available right now. We will retry "
    "automatically.",
    "RATE_LIMIT_EXCEEDED": "Too many updates in a short time. We will retry shortly.",
    "LAST_UPDATED_DATETIME_OUT_OF_RANGE": "Your bank has no newer balances yet; showing the "
    "last ones it reported.",
    "NO_ACCOUNTS": "Plaid found no accounts at this connection.",
    "PRODUCTS_NOT_SUPPORTED": "This bank does not provide balances through Plaid.",
    "ACCESS_NOT_GRANTED": "Balance access was not granted for this bank. Reconnect and "
    "allow access to balances.",
}
_DEFAULT_HELP = (
    "The last update failed. We will retry automatically; the balances shown are the last "
    "good ones."
)


def status_for_error(code: str) -> PlaidItem.Status:
    """Return the Item status a failed call with `code` puts the Item in."""
    if code in LOGIN_REQUIRED_CODES:
        return PlaidItem.Status.LOGIN_REQUIRED
    if code in REVOKED_CODES:
        return PlaidItem.Status.REVOKED
    return PlaidItem.Status.ERROR


def help_for_error(code: str) -> str:
    """Return a plain-language explanation of `code` with the action to take."""
    return _HELP.get(code, _DEFAULT_HELP)
