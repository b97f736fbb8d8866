"""Security headers on every page: CSP, HSTS, nosniff, referrer policy, no framing."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from finance.security.csp import content_security_policy
from tests.factories import UserFactory
from tests.helpers import body

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[3]
PLAID_CDN = "https://cdn.plaid.com/link/v2/stable/link-initialize.js"


def directives(header: str) -> dict[str, list[str]]:
    parsed = {}
    for part in header.split(";"):
        words = part.split()
        if words:
            parsed[words[0]] = words[1:]
    return parsed


def test_pages_carry_the_security_headers(settings: Any) -> None:
    settings.SECURE_HSTS_SECONDS = 31536000
    settings.SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    settings.SECURE_HSTS_PRELOAD = True
    client = Client()
    client.force_login(UserFactory())
    for path in ("/", "/accounts/login/", "/admin/login/"):
        response = client.get(path, secure=True)
        assert response.status_code in (200, 302), path
        assert response["X-Content-Type-Options"] == "nosniff"
        assert response["X-Frame-Options"] == "DENY"
        assert response["Referrer-Policy"] == "same-origin"
        assert response["Strict-Transport-Security"] == (
            "max-age=31536000; includeSubDomains; preload"
        )
        csp = directives(response["Content-Security-Policy"])
        assert csp["frame-ancestors"] == ["'none'"]
        assert csp["object-src"] == ["'none'"] and csp["base-uri"] == ["'none'"]
        assert csp["style-src"] == ["'self'"]
        assert "'unsafe-inline'" not in response["Content-Security-Policy"]
        assert "'unsafe-eval'" not in response["Content-Security-Policy"]


def test_plain_http_is_redirected_to_https_in_production(settings: Any) -> None:
    settings.SECURE_SSL_REDIRECT = True
    response = Client().get("/accounts/login/")
    assert response.status_code == 301
    assert response["Location"] == "https://testserver/accounts/login/"
    # Behind a TLS-terminating proxy that says so, no redirect loop.
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    assert Client().get("/accounts/login/", HTTP_X_FORWARDED_PROTO="https").status_code == 200


def test_csp_for_plaids_cdn_allows_plaid_link_only() -> None:
    csp = content_security_policy(link_script_url=PLAID_CDN)
    assert csp["script-src"] == ["'self'", PLAID_CDN]
    assert csp["frame-src"] == ["https://cdn.plaid.com", "https://*.plaid.com"]
    assert csp["connect-src"] == ["'self'", "https://*.plaid.com"]
    assert csp["default-src"] == ["'self'"]


def test_csp_for_the_emulator_allows_exactly_its_origin() -> None:
    url = "http://127.0.0.1:8765/link/v2/stable/link-initialize.js"
    csp = content_security_policy(link_script_url=url)
    assert csp["script-src"] == ["'self'", "http://127.0.0.1:8765"]
    assert csp["frame-src"] == ["http://127.0.0.1:8765"]
    assert csp["connect-src"] == ["'self'", "http://127.0.0.1:8765"]
    assert not any("plaid.com" in s for v in csp.values() for s in v)


@pytest.mark.parametrize("url", ["", "javascript:alert(1)", "cdn.plaid.com/link.js"])
def test_csp_refuses_a_link_url_that_is_not_http(url: str) -> None:
    with pytest.raises(ValueError, match="PLAID_LINK_SCRIPT_URL"):
        content_security_policy(link_script_url=url)


def test_the_served_policy_allows_the_link_script_the_pages_load(settings: Any) -> None:
    """Whatever page includes PLAID_LINK_SCRIPT_URL, the policy it is served with allows it."""
    client = Client()
    client.force_login(UserFactory())
    response = client.get("/")
    csp = directives(response["Content-Security-Policy"])
    for src in re.findall(r'<script[^>]+src="([^"]+)"', body(response)):
        if src.startswith("/"):
            continue
        assert any(src == s or src.startswith(s.rstrip("/") + "/") for s in csp["script-src"])


def test_templates_have_no_inline_script_or_style() -> None:
    offenders = []
    for path in sorted((ROOT / "templates").rglob("*.html")):
        text = path.read_text()
        if re.search(r"<script(?![^>]*\bsrc=)(?![^>]*application/json)[^>]*>", text):
            offenders.append(f"{path.name}: inline <script>")
        if re.search(r"\sstyle\s*=", text) or "<style" in text:
            offenders.append(f"{path.name}: inline style")
        if re.search(r"\son[a-z]+\s*=", text):
            offenders.append(f"{path.name}: inline event handler")
    assert offenders == []
