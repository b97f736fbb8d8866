"""Check PLAID_REDIRECT_URI the way Plaid's dashboard does, so a bad one fails at start-up.

A pure function of settings values, so settings.py can call it at import time.
"""

from __future__ import annotations

from urllib.parse import urlsplit

LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "[::1]", "::1"})


def check_redirect_uri(uri: str, *, plaid_env: str) -> None:
    """Raise ValueError unless `uri` is empty or a redirect URI Plaid can accept.

    Plaid wants https, with no query or fragment (it appends `?oauth_state_id=...`);
    sandbox also allows http on localhost. The URI must be registered in Plaid's dashboard
    (Team settings -> API -> Allowed redirect URIs); that part only Plaid can check.
    """
    if not uri:
        return
    parts = urlsplit(uri)
    if parts.query or parts.fragment or not parts.hostname:
        raise ValueError(
            f"PLAID_REDIRECT_URI must be an absolute URL without query or fragment: {uri!r}"
        )
    local_http = plaid_env == "sandbox" and parts.scheme == "http" and parts.hostname in LOCAL_HOSTS
    if parts.scheme != "https" and not local_http:
        raise ValueError(
            "PLAID_REDIRECT_URI must be https (Plaid allows http://localhost in sandbox only): "
            f"{uri!r}"
        )
