"""Two-factor sign-in pages: set up (secret + QR code), verify at sign-in, turn off."""

from __future__ import annotations

import base64

from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import User
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from . import selectors, services
from .forms import LoginForm, TokenForm
from .qr import qr_svg

WRONG_CODE = "That code is not valid. Check your device's clock and try the current code."
THROTTLED = "Too many wrong codes. Wait a few seconds, then try the current code."


class AuthenticatedRequest(HttpRequest):
    user: User


class LoginView(auth_views.LoginView):
    """Django's sign-in page with LoginForm; malformed input (a missing or overlong
    username, a missing password) is answered 400, a wrong password 200 as usual."""

    authentication_form = LoginForm

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
    """Show two-factor status; with it off, show a new secret and confirm its first code."""
    confirmed = selectors.totp_device_confirmed(user=request.user)
    required = selectors.two_factor_required(user=request.user)
    if confirmed is not None:
        return render(
            request,
            "security/two_factor_status.html",
            {"form": TokenForm(), "can_disable": not required},
        )
    device = services.totp_device_pending(user=request.user)
    form = TokenForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        if services.totp_device_confirm(
            request=request, user=request.user, token=form.cleaned_data["token"]
        ):
            messages.success(request, "Two-factor sign-in is on: each sign-in now asks for a code.")
            return redirect(_next_url(request, fallback="two_factor_setup"))
        form.add_error("token", WRONG_CODE)
    secret = base64.b32encode(device.bin_key).decode().rstrip("=")
    context = {
        "form": form,
        "secret": _group(secret),
        "qr_code": qr_svg(device.config_url),
        "required": required,
        "next": _next_url(request, fallback=""),
    }
    return render(request, "security/two_factor_setup.html", context)


@never_cache
@login_required
@require_POST
def two_factor_disable(request: AuthenticatedRequest) -> HttpResponse:
    """Turn two-factor sign-in off after checking a current code."""
    device = selectors.totp_device_confirmed(user=request.user)
    if device is None:
        return redirect("two_factor_setup")
    if selectors.two_factor_required(user=request.user):
        messages.error(request, "Staff accounts must keep two-factor sign-in on.")
        return redirect("two_factor_setup")
    form = TokenForm(request.POST)
    if form.is_valid() and services.totp_device_verify(
        request=request, device=device, token=form.cleaned_data["token"]
    ):
        services.totp_devices_remove(user=request.user)
        messages.success(request, "Two-factor sign-in is off.")
        return redirect("two_factor_setup")
    if form.is_valid():
        form.add_error("token", WRONG_CODE)
    return render(
        request,
        "security/two_factor_status.html",
        {"form": form, "can_disable": True},
        status=400,
    )


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def two_factor_verify(request: AuthenticatedRequest) -> HttpResponse:
    """Ask a signed-in user with two-factor on for the current code."""
    device = selectors.totp_device_confirmed(user=request.user)
    if device is None or request.user.is_verified():  # type: ignore[attr-defined]
        return redirect(_next_url(request))
    form = TokenForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        allowed, _ = device.verify_is_allowed()
        if not allowed:
            form.add_error("token", THROTTLED)
        elif services.totp_device_verify(
            request=request, device=device, token=form.cleaned_data["token"]
        ):
            return redirect(_next_url(request))
        else:
            form.add_error("token", WRONG_CODE)
    return render(
        request,
        "security/two_factor_verify.html",
        {"form": form, "next": _next_url(request, fallback="")},
        status=400 if form.errors else 200,
    )
