"""PLAID_REDIRECT_URI is checked at start-up the way Plaid's dashboard checks it."""

import pytest

from finance.plaid_redirect import check_redirect_uri


@pytest.mark.parametrize(
    ("uri", "plaid_env"),
    [
        ("", "production"),
        ("https://money.example.com/link/oauth-return/", "production"),
        ("https://money.example.com/link/oauth-return/", "sandbox"),
        ("http://localhost:8000/link/oauth-return/", "sandbox"),
        ("http://127.0.0.1:8000/link/oauth-return/", "sandbox"),
    ],
)
def test_accepted(uri, plaid_env):
    check_redirect_uri(uri, plaid_env=plaid_env)


@pytest.mark.parametrize(
    ("uri", "plaid_env"),
    [
        ("http://localhost:8000/link/oauth-return/", "production"),
        ("http://money.example.com/link/oauth-return/", "sandbox"),
        ("https://money.example.com/link/oauth-return/?next=/", "production"),
        ("https://money.example.com/link/oauth-return/#x", "production"),
        ("/link/oauth-return/", "sandbox"),
        ("ftp://localhost/", "sandbox"),
    ],
)
def test_refused(uri, plaid_env):
    with pytest.raises(ValueError, match="PLAID_REDIRECT_URI"):
        check_redirect_uri(uri, plaid_env=plaid_env)
