"""Build Plaid error objects and the exception that carries them.

Every error reply has the keys plaid-python's ``PlaidError`` model knows:
``error_type``, ``error_code``, ``error_code_reason``, ``error_message``,
``display_message``, ``request_id``, ``causes``, ``status``,
``documentation_url`` and ``suggested_action``.
"""

from __future__ import annotations

from typing import Any

# error_code -> (error_type, HTTP status, error_message, display_message)
CATALOGUE: dict[str, tuple[str, int, str, str | None]] = {
    # INVALID_REQUEST
    "MISSING_FIELDS": ("INVALID_REQUEST", 400, "the following required fields are missing", None),
    "INVALID_FIELD": ("INVALID_REQUEST", 400, "a field in the request is invalid", None),
    "INVALID_BODY": (
        "INVALID_REQUEST",
        400,
        "body could not be parsed as JSON",
        None,
    ),
    "NOT_FOUND": ("INVALID_REQUEST", 404, "not found", None),
    "UNKNOWN_FIELDS": ("INVALID_REQUEST", 400, "the request contains unknown fields", None),
    # INVALID_INPUT
    "INVALID_API_KEYS": (
        "INVALID_INPUT",
        400,
        "invalid client_id or secret provided",
        None,
    ),
    "INVALID_ACCESS_TOKEN": (
        "INVALID_INPUT",
        400,
        "provided access token is in an invalid format. "
        "expected format: access-<environment>-<identifier>",
        None,
    ),
    "INVALID_PUBLIC_TOKEN": (
        "INVALID_INPUT",
        400,
        "provided public token is expired. Public tokens expire 30 minutes after creation "
        "at which point they can no longer be exchanged",
        None,
    ),
    "INVALID_LINK_TOKEN": (
        "INVALID_INPUT",
        400,
        "provided link token is expired or invalid",
        None,
    ),
    "INVALID_INSTITUTION": (
        "INVALID_INPUT",
        400,
        "invalid institution_id provided",
        None,
    ),
    "INVALID_WEBHOOK_VERIFICATION_KEY_ID": (
        "INVALID_INPUT",
        400,
        "invalid key_id provided",
        None,
    ),
    # ITEM_ERROR
    "ITEM_LOGIN_REQUIRED": (
        "ITEM_ERROR",
        400,
        "the login details of this item have changed (credentials, MFA, or required user "
        "action) and a user login is required to update this information. use Link's update "
        "mode to restore the item to a good state",
        "The login details of this item have changed (credentials, MFA, or required user "
        "action) and a user login is required to update this information.",
    ),
    "ITEM_NOT_FOUND": (
        "ITEM_ERROR",
        400,
        "the Item you requested cannot be found. This Item does not exist, has been "
        "previously removed via /item/remove, or has had access removed by the user",
        None,
    ),
    "INVALID_CREDENTIALS": (
        "ITEM_ERROR",
        400,
        "the provided credentials were not correct",
        "The provided credentials were not correct. Please try again.",
    ),
    "ITEM_LOCKED": (
        "ITEM_ERROR",
        400,
        "the account is locked. prompt the user to visit the institution's site and unlock "
        "their account",
        "The given account has been locked by the financial institution. Please visit your "
        "financial institution's website to unlock your account.",
    ),
    "NO_ACCOUNTS": (
        "ITEM_ERROR",
        400,
        "no valid accounts were found for this item",
        "No valid accounts were found at the financial institution.",
    ),
    "PRODUCTS_NOT_SUPPORTED": (
        "ITEM_ERROR",
        400,
        "the requested product is not supported by this Item",
        None,
    ),
    "ACCESS_NOT_GRANTED": (
        "ITEM_ERROR",
        400,
        "the user did not grant the necessary permissions for their account",
        "This app doesn't have access to the account.",
    ),
    "USER_PERMISSION_REVOKED": (
        "ITEM_ERROR",
        400,
        "the user has revoked their permissions for this Item",
        "The user has revoked access to this account.",
    ),
    # INSTITUTION_ERROR
    "INSTITUTION_DOWN": (
        "INSTITUTION_ERROR",
        400,
        "this institution is not currently responding to this request. please try again soon",
        "This financial institution is not currently responding to requests. "
        "We apologize for the inconvenience.",
    ),
    "INSTITUTION_NOT_RESPONDING": (
        "INSTITUTION_ERROR",
        400,
        "this institution is not currently responding to this request. please try again soon",
        "This financial institution is not currently responding to requests. "
        "We apologize for the inconvenience.",
    ),
    "INSTITUTION_NOT_AVAILABLE": (
        "INSTITUTION_ERROR",
        400,
        "this institution is not currently responding to this request. please try again soon",
        "This financial institution is not currently responding to requests. "
        "We apologize for the inconvenience.",
    ),
    # INVALID_RESULT
    "LAST_UPDATED_DATETIME_OUT_OF_RANGE": (
        "INVALID_RESULT",
        400,
        "requested datetime out of range, most recently updated balance is older than "
        "min_last_updated_datetime",
        None,
    ),
    # RATE_LIMIT_EXCEEDED
    "BALANCE_LIMIT": (
        "RATE_LIMIT_EXCEEDED",
        429,
        "rate limit exceeded for attempts to access this item. please try again later",
        None,
    ),
    "ACCOUNTS_BALANCE_GET_LIMIT": (
        "RATE_LIMIT_EXCEEDED",
        429,
        "rate limit exceeded for attempts to access this item. please try again later",
        None,
    ),
    "ACCOUNTS_LIMIT": (
        "RATE_LIMIT_EXCEEDED",
        429,
        "rate limit exceeded for attempts to access this item. please try again later",
        None,
    ),
    "ITEM_GET_LIMIT": (
        "RATE_LIMIT_EXCEEDED",
        429,
        "rate limit exceeded for attempts to access this item. please try again later",
        None,
    ),
    "RATE_LIMIT": (
        "RATE_LIMIT_EXCEEDED",
        429,
        "rate limit exceeded. please try again later",
        None,
    ),
    "RATE_LIMIT_EXCEEDED": (
        "RATE_LIMIT_EXCEEDED",
        429,
        "rate limit exceeded. please try again later",
        None,
    ),
    # API_ERROR
    "INTERNAL_SERVER_ERROR": (
        "API_ERROR",
        500,
        "an unexpected error occurred",
        "An unexpected error occurred. Please try again later.",
    ),
    "PLANNED_MAINTENANCE": (
        "API_ERROR",
        503,
        "the Plaid API is currently undergoing maintenance. please try again later",
        "This service is currently undergoing maintenance. Please try again later.",
    ),
}


class PlaidAPIError(Exception):
    """Carry a Plaid error; the server turns it into a JSON error reply."""

    def __init__(
        self,
        error_code: str,
        error_message: str | None = None,
        *,
        error_type: str | None = None,
        status: int | None = None,
        display_message: str | None = None,
    ) -> None:
        known = CATALOGUE.get(error_code)
        self.error_code = error_code
        self.error_type = error_type or (known[0] if known else "API_ERROR")
        self.status = status or (known[1] if known else 400)
        self.error_message = error_message or (known[2] if known else error_code.lower())
        self.display_message = (
            display_message if display_message is not None else (known[3] if known else None)
        )
        super().__init__(f"{self.error_type}/{self.error_code}: {self.error_message}")

    def to_dict(self, request_id: str) -> dict[str, Any]:
        """Return the error as Plaid's JSON error object."""
        return error_object(
            self.error_code,
            request_id,
            error_type=self.error_type,
            status=self.status,
            error_message=self.error_message,
            display_message=self.display_message,
        )


def error_object(
    error_code: str,
    request_id: str,
    *,
    error_type: str | None = None,
    status: int | None = None,
    error_message: str | None = None,
    display_message: str | None = None,
) -> dict[str, Any]:
    """Return a complete Plaid error dict for ``error_code`` (catalogue defaults)."""
    known = CATALOGUE.get(error_code)
    etype = error_type or (known[0] if known else "API_ERROR")
    return {
        "error_type": etype,
        "error_code": error_code,
        "error_code_reason": None,
        "error_message": error_message or (known[2] if known else error_code.lower()),
        "display_message": display_message
        if display_message is not None
        else (known[3] if known else None),
        "request_id": request_id,
        "causes": [],
        "status": status or (known[1] if known else 400),
        "documentation_url": f"https://plaid.com/docs/errors/{etype.lower().replace('_', '-')}/"
        f"#{error_code.lower().replace('_', '-')}",
        "suggested_action": None,
    }


def missing_fields(*names: str) -> PlaidAPIError:
    """Return the MISSING_FIELDS error naming ``names``."""
    return PlaidAPIError(
        "MISSING_FIELDS",
        "the following required fields are missing: " + ", ".join(names),
    )


def invalid_field(message: str) -> PlaidAPIError:
    """Return an INVALID_FIELD error with ``message``."""
    return PlaidAPIError("INVALID_FIELD", message)
