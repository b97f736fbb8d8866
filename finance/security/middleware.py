"""Two-factor gate: a signed-in user with 2FA on must enter a code before anything else.

Placed after django_otp's OTPMiddleware. Signing in with the password (the normal login
page or the admin's) only opens the verify page and logout; staff without a device while
REQUIRE_STAFF_2FA is on only reach the setup page and logout. Cost: none of its own;
whether two-factor is on is read with the signed-in user (`backends.UserBackend`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse

from . import selectors

# Views a signed-in, not yet verified session may reach.
VERIFY_VIEWS = frozenset({"two_factor_verify", "logout"})
SETUP_VIEWS = frozenset({"two_factor_setup", "logout"})
# Verified by their own means (Plaid's signature), never by a session.
PUBLIC_PATH_PREFIXES = ("/plaid/webhook/",)


class TwoFactorMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_view(
        self,
        request: HttpRequest,
        view_func: Callable[..., Any],
        view_args: Any,
        view_kwargs: Any,
    ) -> HttpResponse | None:
        user = request.user
        if not user.is_authenticated or request.path_info.startswith(PUBLIC_PATH_PREFIXES):
            return None
        if user.is_verified():  # type: ignore[attr-defined]  # set by OTPMiddleware
            return None
        match = request.resolver_match
        name = match.url_name if match and not match.namespace else None
        if selectors.two_factor_on(user=user):
            if name in VERIFY_VIEWS:
                return None
            return _redirect("two_factor_verify", request)
        if selectors.two_factor_required(user=user):
            if name in SETUP_VIEWS:
                return None
            return _redirect("two_factor_setup", request)
        return None


def _redirect(view: str, request: HttpRequest) -> HttpResponseRedirect:
    target = reverse(view)
    if request.method == "GET":
        target += "?" + urlencode({"next": request.get_full_path()})
    return HttpResponseRedirect(target)
