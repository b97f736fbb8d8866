"""Plaid's errors: the one exception every call raises, and what each code means.

What lives here: `PlaidError`; which codes a retry can help (`RETRYABLE_CODES`); which
mean the Item needs its owner (`LOGIN_REQUIRED_CODES`), is gone at Plaid (`ITEM_GONE_CODES`)
or revoked (`REVOKED_CODES`); and the words a user reads for each (`help_for_error`,
`user_message`). Pure: no Django, no SDK; every layer above may import it.
"""

from __future__ import annotations

from dataclasses import dataclass

# Error codes worth retrying later (with backoff). Everything with HTTP status >= 500,
# 429, a timeout or a refused connection is retryable too.
RETRYABLE_CODES = frozenset(
    {
        "INSTITUTION_DOWN",
        "INSTITUTION_NOT_RESPONDING",
        "INSTITUTION_NOT_AVAILABLE",
        "INTERNAL_SERVER_ERROR",
        "PLANNED_MAINTENANCE",
        "RATE_LIMIT_EXCEEDED",
        "BALANCE_LIMIT",
        "ACCOUNTS_BALANCE_GET_LIMIT",
        "ACCOUNTS_LIMIT",
        "ITEM_GET_LIMIT",
        "PRODUCT_NOT_READY",
    }
)
RETRYABLE_TYPES = frozenset({"RATE_LIMIT_EXCEEDED", "API_ERROR"})

# Codes our client (client.py) raises itself, for failures with no Plaid error object.
TIMEOUT = "TIMEOUT"
CONNECTION_ERROR = "CONNECTION_ERROR"
MALFORMED_RESPONSE = "MALFORMED_RESPONSE"
NOT_CONFIGURED = "NOT_CONFIGURED"
# This server's Plaid keys are missing or wrong: an operator must act, no user can.
CONFIGURATION_CODES = frozenset({NOT_CONFIGURED, "INVALID_API_KEYS"})


class PlaidError(Exception):
    """A Plaid call failed. `retryable` says whether the same call may succeed later."""

    def __init__(
        self,
        *,
        code: str,
        message: str,
        error_type: str = "",
        request_id: str = "",
        http_status: int | None = None,
        display_message: str = "",
        retryable: bool = False,
        endpoint: str = "",
        duration_ms: int | None = None,
    ) -> None:
        super().__init__(f"{code}: {message}")
        # Set by `_call`: which endpoint failed and how long the attempt took.
        self.endpoint = endpoint
        self.duration_ms = duration_ms
        self.code = code
        self.message = message
        self.error_type = error_type
        self.request_id = request_id
        self.http_status = http_status
        self.display_message = display_message
        self.retryable = retryable

    def __repr__(self) -> str:
        return (
            f"PlaidError(code={self.code!r}, type={self.error_type!r}, "
            f"status={self.http_status!r}, request_id={self.request_id!r}, "
            f"retryable={self.retryable!r})"
        )


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


def help_for_error(code: str) -> str:
    """Return a plain-language explanation of `code` with the action to take."""
    return _HELP.get(code, _DEFAULT_HELP)


# Errors of /item/remove that mean the Item is already gone at Plaid.
# INVALID_ACCESS_TOKEN: Plaid no longer knows the token, so nothing is left to remove.
ITEM_GONE_CODES = frozenset({"ITEM_NOT_FOUND", "INVALID_ACCESS_TOKEN"})


def is_item_gone(error: PlaidError) -> bool:
    """Whether `error` (from /item/remove) means the Item no longer exists at Plaid."""
    return error.code in ITEM_GONE_CODES


@dataclass(frozen=True, slots=True)
class UserMessage:
    """What to tell the user about a failed Plaid call, and the HTTP status to answer."""

    text: str
    status: int


def user_message(error: PlaidError, *, action: str) -> UserMessage:
    """Return the message for `error`; `action` is what failed ("Linking a bank")."""
    if error.code in CONFIGURATION_CODES:
        return UserMessage(
            f"{action} is not possible: this server's Plaid keys are missing or wrong. "
            "Ask the administrator to check PLAID_CLIENT_ID and PLAID_SECRET.",
            503,
        )
    if error.code == "INVALID_PUBLIC_TOKEN":
        return UserMessage(
            "This bank link has expired or was already used, so nothing was added. "
            "Click “Link a bank” to link it again.",
            400,
        )
    if error.retryable:
        return UserMessage(
            f"{action} failed: Plaid could not be reached or is busy. Nothing was changed; "
            "try again in a few minutes.",
            503,
        )
    detail = error.display_message or error.code
    return UserMessage(f"{action} failed: Plaid refused it ({detail}). Nothing was changed.", 502)


def unlink_error_message(error: PlaidError) -> str:
    """Return what to tell the user when Plaid would not remove an Item."""
    if error.retryable:
        return (
            "Plaid could not be reached to remove this connection, so nothing was changed. "
            "Try again in a few minutes."
        )
    return (
        f"Plaid refused to remove this connection ({error.code}), so nothing was changed. "
        "Try again later."
    )
