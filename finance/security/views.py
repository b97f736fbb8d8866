"""Two-factor sign-in pages: set up (secret + QR code), verify at sign-in (a code or a
recovery code), recovery codes, turn off."""

from __future__ import annotations

import base64
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import User
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from . import selectors, services
from .forms import LoginForm, SecondFactorForm, TokenForm
from .qr import qr_svg

WRONG_CODE = "That code is not valid. Check your device's clock and try the current code."
REUSED_CODE = (
    "This code was just used, and each code works once. Wait for your app to show the next "
    "code, then enter that one."
)


def code_error(check: services.CodeCheck) -> str:
    """Return what to tell the user about a code that was not accepted."""
    if check.result == services.THROTTLED:
        seconds = check.wait_seconds
        return (
            f"Too many wrong codes. Wait {seconds} second{'s' if seconds != 1 else ''}, "
            "then try the current code."
        )
    if check.result == services.REUSED:
        return REUSED_CODE
    return WRONG_CODE


def _recovery_codes_page(request: HttpRequest, codes: list[str], next_url: str) -> HttpResponse:
    """Show new recovery codes: the only time they can be read (never cached)."""
    shown = [f"{c[:4]}-{c[4:]}" for c in codes]
    context = {
        "codes": shown,
        "download": "Balances recovery codes (each works once):\n" + "\n".join(shown) + "\n",
        "next": next_url or reverse("two_factor_setup"),
    }
    return render(request, "security/recovery_codes.html", context)


class AuthenticatedRequest(HttpRequest):
    user: User


class LoginView(auth_views.LoginView):
    """Django's sign-in page with LoginForm; malformed input (a missing or overlong
    username, a missing password) is answered 400, a wrong password 200 as usual."""

    authentication_form = LoginForm

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context["password_reset_available"] = settings.EMAIL_CONFIGURED
        return context

    def form_invalid(self, form: LoginForm) -> HttpResponse:  # type: ignore[override]
        response = super().form_invalid(form)
        if any(name in form.errors for name in form.fields):
            response.status_code = 400
        return response


def _next_url(request: HttpRequest, fallback: str = "dashboard") -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return fallback


def _group(secret: str) -> str:
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def two_factor_setup(request: AuthenticatedRequest) -> HttpResponse:
    """Show two-factor status; with it off, show a new secret and confirm its first code
    (then show the ten recovery codes made for it, once)."""
    confirmed = selectors.totp_device_confirmed(user=request.user)
    required = selectors.two_factor_required(user=request.user)
    if confirmed is not None:
        return _status_page(request, SecondFactorForm(autofocus=False))
    device = services.totp_device_pending(user=request.user)
    form = TokenForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        check = services.totp_device_confirm(
            request=request, user=request.user, token=form.cleaned_data["token"]
        )
        if check.ok:
            codes = services.recovery_codes_create(user=request.user)
            messages.success(request, "Two-factor sign-in is on: each sign-in now asks for a code.")
            return _recovery_codes_page(request, codes, _next_url(request, fallback=""))
        form.add_error("token", code_error(check))
    secret = base64.b32encode(device.bin_key).decode().rstrip("=")
    context = {
        "form": form,
        "secret": _group(secret),
        "qr_code": qr_svg(device.config_url),
        "required": required,
        "next": _next_url(request, fallback=""),
    }
    return render(request, "security/two_factor_setup.html", context)


def _status_page(
    request: AuthenticatedRequest, form: SecondFactorForm, status: int = 200
) -> HttpResponse:
    context = {
        "form": form,
        "can_disable": not selectors.two_factor_required(user=request.user),
        "recovery_left": selectors.recovery_codes_left(user=request.user),
    }
    return render(request, "security/two_factor_status.html", context, status=status)


@never_cache
@login_required
@require_POST
def two_factor_recovery_codes(request: AuthenticatedRequest) -> HttpResponse:
    """Replace the user's recovery codes with ten new ones and show them, once."""
    if selectors.totp_device_confirmed(user=request.user) is None:
        messages.error(request, "Turn on two-factor sign-in first: recovery codes come with it.")
        return redirect("two_factor_setup")
    codes = services.recovery_codes_create(user=request.user)
    messages.success(request, "New recovery codes: the old ones no longer work.")
    return _recovery_codes_page(request, codes, "")


@never_cache
@login_required
@require_POST
def two_factor_disable(request: AuthenticatedRequest) -> HttpResponse:
    """Turn two-factor sign-in off after checking a current code (or a recovery code)."""
    device = selectors.totp_device_confirmed(user=request.user)
    if device is None:
        return redirect("two_factor_setup")
    if selectors.two_factor_required(user=request.user):
        messages.error(request, "Staff accounts must keep two-factor sign-in on.")
        return redirect("two_factor_setup")
    form = SecondFactorForm(request.POST, autofocus=False)
    if form.is_valid():
        token = form.cleaned_data["token"]
        if token.isdigit():
            check = services.totp_code_check(device=device, token=token)
        else:
            check = services.recovery_code_check(user=request.user, token=token)
        if check.ok:
            services.totp_devices_remove(user=request.user)
            messages.success(request, "Two-factor sign-in is off.")
            return redirect("two_factor_setup")
        form.add_error("token", code_error(check))
    return _status_page(request, form, status=400)


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def two_factor_verify(request: AuthenticatedRequest) -> HttpResponse:
    """Ask a signed-in user with two-factor on for the current code or a recovery code."""
    device = selectors.totp_device_confirmed(user=request.user)
    if device is None or request.user.is_verified():  # type: ignore[attr-defined]
        return redirect(_next_url(request))
    form = SecondFactorForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        check = services.second_factor_verify(
            request=request, user=request.user, token=form.cleaned_data["token"]
        )
        if check.ok:
            left = check.recovery_codes_left
            if left is not None:
                messages.warning(
                    request,
                    f"Signed in with a recovery code; it no longer works. {left} "
                    f"recovery code{'s' if left != 1 else ''} left: make new ones in "
                    "Two-factor sign-in if your phone is lost.",
                )
            return redirect(_next_url(request))
        form.add_error("token", code_error(check))
    return render(
        request,
        "security/two_factor_verify.html",
        {"form": form, "next": _next_url(request, fallback="")},
        status=400 if form.errors else 200,
    )
