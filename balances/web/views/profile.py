"""The user's settings page: their main currency."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from balances.selectors import accounts
from balances.services import profiles
from balances.web.forms import MainCurrencyForm
from balances.web.views import AuthenticatedRequest


@require_http_methods(["GET", "POST"])
@login_required
def profile_settings(request: AuthenticatedRequest) -> HttpResponse:
    """Show and change the user's main currency."""
    choices = profiles.currency_choices(user=request.user)
    current = accounts.main_currency_for(user=request.user)
    if current not in choices:
        choices = [current, *choices]
    if request.method == "POST":
        form = MainCurrencyForm(request.POST, choices=choices)
        if form.is_valid():
            try:
                profiles.profile_set_main_currency(
                    user=request.user, currency=form.cleaned_data["main_currency"]
                )
            except ValidationError as exc:
                form.add_error("main_currency", exc)
            else:
                messages.success(
                    request, f"Main currency set to {form.cleaned_data['main_currency']}."
                )
                return redirect("dashboard")
        status = 400
    else:
        form = MainCurrencyForm(initial={"main_currency": current}, choices=choices)
        status = 200
    return render(
        request,
        "balances/settings.html",
        {"form": form, "own_currencies": accounts.currencies_for_user(user=request.user)},
        status=status,
    )
