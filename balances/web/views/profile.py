"""The user's settings page: their main currency and their time zone."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from balances.selectors import accounts, costs
from balances.services import profiles
from balances.web import time_zones
from balances.web.forms import MainCurrencyForm, TimeZoneForm
from balances.web.views import AuthenticatedRequest

# The value of the hidden `setting` field of the time zone's form (the other: main currency).
TIME_ZONE_SETTING = "time_zone"


@require_http_methods(["GET", "POST"])
@login_required
def profile_settings(request: AuthenticatedRequest) -> HttpResponse:
    """Show and change the user's main currency and time zone (one form posted at a
    time); show what their connections cost in billed Plaid calls (today, this month, and
    the estimated bill when PLAID_BALANCE_PRICE is set)."""
    choices = profiles.currency_choices(user=request.user)
    current = accounts.main_currency_for(user=request.user)
    if current not in choices:
        choices = [current, *choices]
    zone_choices = profiles.time_zone_choices()
    chosen_zone = accounts.time_zone_for(user=request.user)
    form = MainCurrencyForm(initial={"main_currency": current}, choices=choices)
    zone_form = TimeZoneForm(
        initial={"time_zone": chosen_zone or settings.TIME_ZONE}, choices=zone_choices
    )
    status = 200
    if request.method == "POST" and request.POST.get("setting") == TIME_ZONE_SETTING:
        zone_form = TimeZoneForm(request.POST, choices=zone_choices)
        if zone_form.is_valid():
            name = zone_form.cleaned_data["time_zone"]
            try:
                profiles.profile_set_time_zone(user=request.user, time_zone=name)
            except ValidationError as exc:
                zone_form.add_error("time_zone", exc)
            else:
                time_zones.remember_time_zone(request, name)
                messages.success(request, f"Time zone set to {name.replace('_', ' ')}.")
                return redirect("profile_settings")
        status = 400
    elif request.method == "POST":
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
    return render(
        request,
        "balances/settings.html",
        {
            "form": form,
            "zone_form": zone_form,
            "zone_chosen": bool(chosen_zone),
            "site_zone": settings.TIME_ZONE,
            "own_currencies": accounts.currencies_for_user(user=request.user),
            "usage": costs.usage_for_user(user_id=request.user.pk),
        },
        status=status,
    )
