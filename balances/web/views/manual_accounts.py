"""Accounts and assets entered by hand: add, edit, re-value and delete (with a
confirmation page). Another user's account is a 404, one shared with the user (visible,
not theirs) a 403; bad input is a 400 that saves nothing, with the form's errors field
by field."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from balances.models import ManualAccount
from balances.selectors.households import visible_manual_account
from balances.services import manual_accounts
from balances.web.forms import ManualAccountEditForm, ManualAccountForm, ManualValueForm
from balances.web.views import AuthenticatedRequest

FORM_TEMPLATE = "balances/manual_account_form.html"


def _own(request: AuthenticatedRequest, pk: int) -> ManualAccount:
    """Return the user's manual account `pk`: 404 if they cannot see it, 403 if it is only
    shared with them (the same rule as the API's writes)."""
    account = visible_manual_account(user=request.user, pk=pk)
    if account is None:
        raise Http404("No such account.")
    if account.owner_id != request.user.pk:
        raise PermissionDenied("This account is shared with you to see, not to change.")
    return account


def _form_page(
    request: AuthenticatedRequest,
    form: ManualValueForm | ManualAccountEditForm,
    *,
    title: str,
    submit: str,
    account: ManualAccount | None = None,
    status: int = 200,
) -> HttpResponse:
    values = list(account.values.order_by("-as_of", "-entered_at", "-pk")) if account else []
    context = {
        "form": form,
        "title": title,
        "submit": submit,
        "account": account,
        "values": values,
    }
    return render(request, FORM_TEMPLATE, context, status=status)


@require_http_methods(["GET", "POST"])
@login_required
def manual_account_add(request: AuthenticatedRequest) -> HttpResponse:
    """Add an account or asset by hand, with its first value."""
    title = "Add an account by hand"
    if request.method != "POST":
        return _form_page(
            request,
            ManualAccountForm(initial={"kind": ManualAccount.Kind.ASSET, "currency": "USD"}),
            title=title,
            submit="Add account",
        )
    form = ManualAccountForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        try:
            account = manual_accounts.manual_account_create(
                user=request.user,
                name=data["name"],
                kind=data["kind"],
                category=data["category"],
                currency=data["currency"],
                value=data["value"],
                as_of=data["as_of"],
                note=data["note"],
            )
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(request, f"“{account.name}” is added to your net worth.")
            return redirect("dashboard")
    return _form_page(request, form, title=title, submit="Add account", status=400)


@require_http_methods(["GET", "POST"])
@login_required
def manual_account_edit(request: AuthenticatedRequest, pk: int) -> HttpResponse:
    """Change what an account entered by hand is (its name, kind, category, currency)."""
    account = _own(request, pk)
    title = f"Edit {account.name}"
    if request.method != "POST":
        initial = {
            "name": account.name,
            "kind": account.kind,
            "category": account.category,
            "currency": account.currency,
            "note": account.note,
        }
        form = ManualAccountEditForm(initial=initial)
        return _form_page(request, form, title=title, submit="Save", account=account)
    form = ManualAccountEditForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        try:
            manual_accounts.manual_account_update(
                account=account,
                name=data["name"],
                kind=data["kind"],
                category=data["category"],
                currency=data["currency"],
                note=data["note"],
            )
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(request, f"“{data['name']}” is saved.")
            return redirect("dashboard")
    return _form_page(request, form, title=title, submit="Save", account=account, status=400)


@require_http_methods(["GET", "POST"])
@login_required
def manual_account_revalue(request: AuthenticatedRequest, pk: int) -> HttpResponse:
    """Enter a new value of an account entered by hand (its earlier values are kept)."""
    account = _own(request, pk)
    title = f"New value of {account.name}"
    if request.method != "POST":
        form = ManualValueForm(initial={"value": account.value})
        return _form_page(request, form, title=title, submit="Save value", account=account)
    form = ManualValueForm(request.POST)
    if form.is_valid():
        try:
            manual_accounts.manual_account_revalue(
                account=account,
                value=form.cleaned_data["value"],
                as_of=form.cleaned_data["as_of"],
            )
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(request, f"The new value of “{account.name}” is saved.")
            return redirect("dashboard")
    return _form_page(request, form, title=title, submit="Save value", account=account, status=400)


@require_http_methods(["GET", "POST"])
@login_required
def manual_account_delete(request: AuthenticatedRequest, pk: int) -> HttpResponse:
    """GET: ask for confirmation. POST: delete the account and its values' history."""
    account = _own(request, pk)
    if request.method != "POST":
        return render(
            request,
            "balances/manual_account_delete.html",
            {"account": account, "value_count": account.values.count()},
        )
    manual_accounts.manual_account_delete(account=account)
    messages.success(request, f"“{account.name}” is deleted, with its history.")
    return redirect("dashboard")
