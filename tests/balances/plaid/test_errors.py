"""`balances.plaid.errors`: what each Plaid error means and what the user reads for it."""

from __future__ import annotations

import pytest

from balances.plaid import errors
from balances.plaid.errors import PlaidError


def error(code: str, *, retryable: bool = False, display_message: str = "") -> PlaidError:
    return PlaidError(
        code=code, message="detail", retryable=retryable, display_message=display_message
    )


# --- user_message ------------------------------------------------------------------------


@pytest.mark.parametrize("code", ["NOT_CONFIGURED", "INVALID_API_KEYS"])
def test_missing_or_wrong_keys_send_the_user_to_the_administrator(code):
    # Even when a retry would be allowed: waiting does not fix the keys.
    message = errors.user_message(error(code, retryable=True), action="Linking a bank")
    assert message.status == 503
    assert message.text.startswith("Linking a bank is not possible: ")
    assert "PLAID_CLIENT_ID and PLAID_SECRET" in message.text


def test_used_or_expired_public_token_asks_to_link_again():
    message = errors.user_message(
        error("INVALID_PUBLIC_TOKEN", retryable=True), action="Linking a bank"
    )
    assert message == errors.UserMessage(
        "This bank link has expired or was already used, so nothing was added. "
        "Click “Link a bank” to link it again.",
        400,
    )


def test_retryable_error_says_try_again_later():
    message = errors.user_message(error("INSTITUTION_DOWN", retryable=True), action="Relinking")
    assert message.status == 503
    assert message.text == (
        "Relinking failed: Plaid could not be reached or is busy. Nothing was changed; "
        "try again in a few minutes."
    )


def test_refusal_shows_plaids_display_message_else_the_code():
    with_display = errors.user_message(
        error("INVALID_INPUT", display_message="Bad input."), action="Linking a bank"
    )
    assert with_display == errors.UserMessage(
        "Linking a bank failed: Plaid refused it (Bad input.). Nothing was changed.", 502
    )
    without = errors.user_message(error("INVALID_INPUT"), action="Linking a bank")
    assert (
        without.text
        == "Linking a bank failed: Plaid refused it (INVALID_INPUT). Nothing was changed."
    )
    assert without.status == 502


# --- help_for_error ----------------------------------------------------------------------


def test_known_codes_have_their_own_help():
    assert errors.help_for_error("ITEM_LOGIN_REQUIRED") == (
        "Your bank needs you to sign in again. Reconnect this bank."
    )
    assert "Unlink it and link" in errors.help_for_error("ITEM_NOT_FOUND")
    assert errors.help_for_error("INVALID_ACCESS_TOKEN") == errors.help_for_error("ITEM_NOT_FOUND")


@pytest.mark.parametrize("code", ["A_CODE_WE_HAVE_NEVER_SEEN", "", "TIMEOUT"])
def test_unknown_codes_get_the_default_help(code):
    assert errors.help_for_error(code) == (
        "The last update failed. We will retry automatically; the balances shown are the last "
        "good ones."
    )


def test_every_login_required_and_revoked_help_names_an_action():
    for code in (
        "ITEM_LOGIN_REQUIRED",
        "INVALID_CREDENTIALS",
        "ITEM_LOCKED",
        *errors.REVOKED_CODES,
    ):
        text = errors.help_for_error(code)
        assert text != errors.help_for_error("A_CODE_WE_HAVE_NEVER_SEEN")
        assert "reconnect" in text.lower() or "link the bank again" in text.lower()


# --- unlink_error_message ----------------------------------------------------------------


def test_unlink_retryable_says_nothing_changed_try_again():
    assert errors.unlink_error_message(error("INTERNAL_SERVER_ERROR", retryable=True)) == (
        "Plaid could not be reached to remove this connection, so nothing was changed. "
        "Try again in a few minutes."
    )


def test_unlink_refusal_names_the_code():
    assert errors.unlink_error_message(error("INVALID_API_KEYS")) == (
        "Plaid refused to remove this connection (INVALID_API_KEYS), so nothing was changed. "
        "Try again later."
    )


# --- is_item_gone ------------------------------------------------------------------------


@pytest.mark.parametrize("code", ["ITEM_NOT_FOUND", "INVALID_ACCESS_TOKEN"])
def test_item_gone_at_plaid(code):
    assert errors.is_item_gone(error(code))


@pytest.mark.parametrize(
    "code", ["USER_PERMISSION_REVOKED", "ITEM_LOGIN_REQUIRED", "INTERNAL_SERVER_ERROR", "TIMEOUT"]
)
def test_item_not_gone_at_plaid(code):
    assert not errors.is_item_gone(error(code, retryable=code != "ITEM_LOGIN_REQUIRED"))


# --- PlaidError --------------------------------------------------------------------------


def test_plaid_error_text_and_repr():
    e = PlaidError(
        code="ITEM_LOGIN_REQUIRED",
        message="the login details changed",
        error_type="ITEM_ERROR",
        request_id="req-1",
        http_status=400,
    )
    assert str(e) == "ITEM_LOGIN_REQUIRED: the login details changed"
    assert repr(e) == (
        "PlaidError(code='ITEM_LOGIN_REQUIRED', type='ITEM_ERROR', status=400, "
        "request_id='req-1', retryable=False)"
    )
    assert (e.endpoint, e.duration_ms) == ("", None)  # set by the client
