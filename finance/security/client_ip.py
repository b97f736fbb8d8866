"""The client address django-axes counts failed logins against."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest


def client_ip(request: HttpRequest) -> str:
    """Return the address of the client that sent `request`.

    With TRUSTED_PROXY_COUNT = 0 (no proxy) this is REMOTE_ADDR and X-Forwarded-For is
    ignored: a client can put anything there. Behind N trusted proxies that each append to
    X-Forwarded-For, the address the outermost trusted proxy saw is the N-th from the right;
    anything further left was written by the client and is not trusted.
    """
    remote = str(request.META.get("REMOTE_ADDR", ""))
    count: int = settings.TRUSTED_PROXY_COUNT
    if count <= 0:
        return remote
    forwarded = [
        part.strip()
        for part in str(request.META.get("HTTP_X_FORWARDED_FOR", "")).split(",")
        if part.strip()
    ]
    if len(forwarded) < count:
        # Fewer hops than configured proxies: the request bypassed them, and whatever
        # X-Forwarded-For holds came from the client.
        return remote
    return forwarded[-count]
