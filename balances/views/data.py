"""Account pages, data out (CSV, JSON) and the profile settings page. Own data only."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponse, JsonResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods

from .. import profiles, selectors
from ..dashboard import (
    available_credit,
    clean_period,
    clean_range,
    dashboard_for_user,
    dashboard_json,
    decimal_text,
    utilization_percent,
)
from ..models import Account, BalanceSnapshot
from . import AuthenticatedRequest

# Spreadsheets run cells starting with these as formulas: prefix text cells with "'".
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def _text(value: str) -> str:
    return f"'{value}" if value.startswith(FORMULA_PREFIXES) else value


class _Echo:
    """A file-like object whose write() returns the line, for streaming csv.writer."""

    def write(self, value: str) -> str:
        return value


def _csv_response(rows: Iterator[list[str]], filename: str) -> StreamingHttpResponse:
    writer = csv.writer(_Echo())
    response = StreamingHttpResponse(
        (writer.writerow(row) for row in rows), content_type="text/csv; charset=utf-8"
    )
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Cache-Control"] = "private, no-store"
    return response


@require_GET
@login_required
def account_detail(request: AuthenticatedRequest, pk: int) -> HttpResponse:
    """Show one of the user's accounts with its balance history; 404 for anyone else's."""
    account = selectors.account_for_user(user=request.user, pk=pk)
    if account is None:
        raise Http404("No such account.")
    range_key = clean_range(request.GET.get("range"))
    points = selectors.account_history(
        account=account, start=selectors.range_start(range_key), end=timezone.localdate()
    )
    official = account.currency_is_official
    chart = [
        {
            "currency": account.currency,
            "official": official,
            "labels": [p.day.isoformat() for p in points],
            "current": [decimal_text(p.current, official=False) for p in points],
            "available": [decimal_text(p.available, official=False) for p in points],
            "limit": [decimal_text(p.limit, official=False) for p in points],
        }
    ]
    context = {
        "account": account,
        "points": list(reversed(points)),
        "range_key": range_key,
        "ranges": selectors.RANGES,
        "chart_data": chart,
        "utilization": utilization_percent(account),
        "available_credit": available_credit(account),
    }
    return render(request, "balances/account_detail.html", context)


@require_GET
@login_required
def dashboard_api(request: AuthenticatedRequest) -> JsonResponse:
    """Serve the dashboard's figures as JSON (read-only, the session user's data only)."""
    board = dashboard_for_user(
        user=request.user,
        range_key=clean_range(request.GET.get("range")),
        period_key=clean_period(request.GET.get("since")),
    )
    response = JsonResponse(dashboard_json(board))
    response["Cache-Control"] = "private, no-store"
    return response


ACCOUNT_COLUMNS = [
    "institution",
    "account",
    "official_name",
    "mask",
    "type",
    "subtype",
    "currency",
    "currency_is_official",
    "available",
    "current",
    "limit",
    "available_credit",
    "utilization_percent",
    "balances_updated_at",
    "closed_at",
]


@require_GET
@login_required
def export_accounts_csv(request: AuthenticatedRequest) -> StreamingHttpResponse:
    """Download the user's accounts (closed ones too) with their latest balances."""
    accounts = (
        Account.objects.filter(item__owner=request.user)
        .select_related("item")
        .order_by("item__institution_name", "item_id", "name", "mask")
    )

    def rows() -> Iterator[list[str]]:
        yield ACCOUNT_COLUMNS
        for a in accounts.iterator(chunk_size=500):
            official = a.currency_is_official
            yield [
                _text(a.item.institution_name or a.item.institution_id),
                _text(a.name),
                _text(a.official_name),
                _text(a.mask),
                a.type,
                _text(a.subtype),
                a.currency,
                "yes" if official else "no",
                decimal_text(a.available, official=official) or "",
                decimal_text(a.current, official=official) or "",
                decimal_text(a.limit, official=official) or "",
                decimal_text(available_credit(a), official=official) or "",
                decimal_text(utilization_percent(a), official=False) or "",
                a.balances_updated_at.isoformat() if a.balances_updated_at else "",
                a.closed_at.isoformat() if a.closed_at else "",
            ]

    return _csv_response(rows(), f"accounts-{timezone.localdate():%Y-%m-%d}.csv")


HISTORY_COLUMNS = [
    "taken_at",
    "institution",
    "account",
    "mask",
    "type",
    "currency",
    "available",
    "current",
    "limit",
]


@require_GET
@login_required
def export_history_csv(request: AuthenticatedRequest) -> StreamingHttpResponse:
    """Download every balance snapshot of the user's accounts, oldest first (streamed)."""
    snapshots = (
        BalanceSnapshot.objects.filter(account__item__owner=request.user)
        .order_by("taken_at", "account_id", "pk")
        .values_list(
            "taken_at",
            "account__item__institution_name",
            "account__name",
            "account__mask",
            "account__type",
            "account__iso_currency_code",
            "account__unofficial_currency_code",
            "available",
            "current",
            "limit",
        )
    )

    def rows() -> Iterator[list[str]]:
        yield HISTORY_COLUMNS
        for (
            taken_at,
            bank,
            name,
            mask,
            type_,
            iso,
            unofficial,
            avail,
            cur,
            limit,
        ) in snapshots.iterator(chunk_size=2000):
            official = bool(iso)
            yield [
                taken_at.isoformat(),
                _text(bank),
                _text(name),
                _text(mask),
                type_,
                iso or unofficial,
                decimal_text(avail, official=official) or "",
                decimal_text(cur, official=official) or "",
                decimal_text(limit, official=official) or "",
            ]

    return _csv_response(rows(), f"balance-history-{timezone.localdate():%Y-%m-%d}.csv")


class MainCurrencyForm(forms.Form):
    main_currency = forms.ChoiceField(
        label="Main currency",
        help_text="Shown first wherever totals are per currency. Currencies are never "
        "converted or added together.",
    )

    def __init__(self, *args: Any, choices: list[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["main_currency"]
        if isinstance(field, forms.ChoiceField):
            field.choices = [(c, c) for c in choices]


@require_http_methods(["GET", "POST"])
@login_required
def profile_settings(request: AuthenticatedRequest) -> HttpResponse:
    """Show and change the user's main currency."""
    choices = profiles.currency_choices(user=request.user)
    current = selectors.main_currency_for(user=request.user)
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
        {"form": form, "own_currencies": selectors.currencies_for_user(user=request.user)},
        status=status,
    )
