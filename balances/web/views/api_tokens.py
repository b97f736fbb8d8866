"""Settings → API tokens: create a token (shown once), list them, revoke one."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from balances.selectors.api_tokens import api_tokens_for_user
from balances.services import api_tokens
from balances.web.forms import ApiTokenForm
from balances.web.views import AuthenticatedRequest


@require_http_methods(["GET", "POST"])
@login_required
def api_token_list(request: AuthenticatedRequest) -> HttpResponse:
    """GET: the user's tokens and a form. POST: create a token and show it, this once.

    The new token is in this response only (never stored, never cached): the page says so.
    """
    status = 200
    if request.method == "POST":
        form = ApiTokenForm(request.POST)
        if form.is_valid():
            try:
                token, text = api_tokens.api_token_create(
                    user=request.user,
                    name=form.cleaned_data["name"],
                    scope=form.cleaned_data["scope"],
                    expires_in_days=form.cleaned_data["expires_in_days"],
                )
            except ValidationError as exc:
                form.add_error(None, exc)
            else:
                response = render(
                    request,
                    "balances/api_token_created.html",
                    {"token": token, "token_text": text},
                )
                response["Cache-Control"] = "private, no-store"
                return response
        status = 400
    else:
        form = ApiTokenForm()
    return render(
        request,
        "balances/api_tokens.html",
        {"form": form, "tokens": api_tokens_for_user(user=request.user)},
        status=status,
    )


@require_POST
@login_required
def api_token_revoke(request: AuthenticatedRequest, pk: int) -> HttpResponse:
    """Revoke one of the user's tokens at once; 404 for anyone else's."""
    token = api_tokens.api_token_revoke(user=request.user, token_id=pk)
    if token is None:
        raise Http404("No such token.")
    messages.success(request, f"Token “{token.name}” is revoked: it no longer works.")
    return redirect("api_tokens")
