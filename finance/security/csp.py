"""The Content-Security-Policy: our own static files plus Plaid Link's origins.

Pure functions of settings values, so settings.py can build the policy at import time.
"""

from __future__ import annotations

from urllib.parse import urlsplit

SELF = "'self'"
NONE = "'none'"


def _origin(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"PLAID_LINK_SCRIPT_URL is not an http(s) URL: {url!r}")
    return f"{parts.scheme}://{parts.netloc}"


def is_plaid_hosted(url: str) -> bool:
    """Return whether `url` is served by Plaid itself (https on plaid.com)."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    return parts.scheme == "https" and (host == "plaid.com" or host.endswith(".plaid.com"))


def content_security_policy(*, link_script_url: str) -> dict[str, list[str]]:
    """Return the CSP directives for pages that may load Plaid Link from `link_script_url`.

    Plaid's Link loads its script from cdn.plaid.com, opens its UI in frames on cdn.plaid.com
    and other *.plaid.com hosts, and calls *.plaid.com from those frames (Plaid's CSP guide).
    Any other URL (the offline emulator's stand-in) gets exactly its own origin. No inline
    script or style anywhere: templates keep JS in static/js and data in data- attributes.
    """
    origin = _origin(link_script_url)
    if is_plaid_hosted(link_script_url):
        script = [link_script_url.split("?", 1)[0]]
        frames = ["https://cdn.plaid.com", "https://*.plaid.com"]
        connect = ["https://*.plaid.com"]
    else:
        script = frames = connect = [origin]
    return {
        "default-src": [SELF],
        "script-src": [SELF, *script],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF, *connect],
        "frame-src": list(frames),
        "object-src": [NONE],
        "base-uri": [NONE],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    }
