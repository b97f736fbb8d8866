"""Views for Plaid Link: JSON endpoints for static/js/link.js, and the unlink page.

Every endpoint needs a login; every write is a CSRF-protected POST. Another user's Item
is a 404. Errors come back as `{"error": "<message for the user>"}` and change nothing.
"""

from __future__ import annotations

import json
import logging
import re
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from .. import linking, plaid_client, services
from ..link_metadata import MetadataError, parse_link_metadata
from ..models import BalanceSnapshot, PlaidItem
from ..plaid_client import PlaidError
from . import AuthenticatedRequest

logger = logging.getLogger(__name__)

# Plaid's public tokens: "public-<environment>-<uuid>".
PUBLIC_TOKEN_RE = re.compile(r"^public-[a-z]+-[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}$")
MAX_BODY_BYTES = 256 * 1024


def _error(message: str, status: int) -> JsonResponse:
    return JsonResponse({"error": message}, status=status)


def _plaid_error(error: PlaidError, *, action: str) -> JsonResponse:
    """Turn a failed Plaid call into a message for the user; `action` is what failed."""
    if error.code == plaid_client.NOT_CONFIGURED or error.code == "INVALID_API_KEYS":
        logger.error("Plaid is not configured: %r", error)
        return _error(
            f"{action} is not possible: this server's Plaid keys are missing or wrong. "
            "Ask the administrator to check PLAID_CLIENT_ID and PLAID_SECRET.",
            503,
        )
    if error.code == "INVALID_PUBLIC_TOKEN":
        return _error(
            "This bank link has expired or was already used, so nothing was added. "
            "Click “Link a bank” to link it again.",
            400,
        )
    if error.retryable:
        return _error(
            f"{action} failed: Plaid could not be reached or is busy. Nothing was changed; "
            "try again in a few minutes.",
            503,
        )
    detail = error.display_message or error.code
    return _error(f"{action} failed: Plaid refused it ({detail}). Nothing was changed.", 502)


def _json_body(request: AuthenticatedRequest) -> dict[str, Any]:
    """Return the request's JSON object; raise ValueError with a message otherwise."""
    if len(request.body) > MAX_BODY_BYTES:
        raise ValueError("The request is too large.")
    if not request.body:
        return {}
    try:
        body = json.loads(request.body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError("The request is not valid JSON.") from exc
    if not isinstance(body, dict):
        raise ValueError("The request must be a JSON object.")
    return body


def _own_item(request: AuthenticatedRequest, pk: int) -> PlaidItem:
    """Return the user's Item `pk`; 404 for another user's or a missing one."""
    item = PlaidItem.objects.filter(pk=pk, owner=request.user).first()
    if item is None:
        raise Http404("No such connection.")
    return item


@require_POST
@login_required
def link_token(request: AuthenticatedRequest) -> JsonResponse:
    """Create a Link token for linking a new bank."""
    try:
        token = linking.link_token_create_for_user(user=request.user)
    except PlaidError as error:
        return _plaid_error(error, action="Linking a bank")
    return JsonResponse({"link_token": token.link_token, "expiration": token.expiration})


@require_POST
@login_required
def link_exchange(request: AuthenticatedRequest) -> JsonResponse:
    """Store the bank Link just connected: exchange its public token, queue a refresh."""
    try:
        body = _json_body(request)
        metadata = parse_link_metadata(body.get("metadata"))
    except (ValueError, MetadataError) as exc:
        return _error(f"{exc} Nothing was added.", 400)
    public_token = body.get("public_token")
    if not public_token:
        return _error("No public token was received from Plaid Link, so nothing was added.", 400)
    if not isinstance(public_token, str) or not PUBLIC_TOKEN_RE.match(public_token):
        return _error("The public token from Plaid Link is malformed, so nothing was added.", 400)
    try:
        item = services.item_link(user=request.user, public_token=public_token, metadata=metadata)
    except services.ItemAlreadyLinked as exc:
        messages.info(request, str(exc))
        return JsonResponse({"redirect": reverse("dashboard"), "duplicate": True})
    except services.LinkError as exc:
        return _error(str(exc), 400)
    except PlaidError as error:
        return _plaid_error(error, action="Linking the bank")
    name = item.institution_name or "Your bank"
    messages.success(
        request, f"{name} is linked. Fetching balances… they appear here in a few seconds."
    )
    return JsonResponse({"redirect": reverse("dashboard"), "item": item.pk})


@require_POST
@login_required
def item_link_token(request: AuthenticatedRequest, pk: int) -> JsonResponse:
    """Create an update-mode Link token for one of the user's Items.

    Body `{"mode": "reconnect"}` (default) repairs the login; `{"mode": "new_accounts"}`
    lets the user add accounts Plaid reported as new.
    """
    item = _own_item(request, pk)
    try:
        mode = _json_body(request).get("mode", "reconnect")
    except ValueError as exc:
        return _error(str(exc), 400)
    if mode not in ("reconnect", "new_accounts"):
        return _error("Unknown Link mode.", 400)
    if item.status == PlaidItem.Status.REVOKED:
        return _error(
            "This connection can no longer be repaired. Unlink it and link the bank again.", 409
        )
    try:
        token = linking.link_token_create_for_item(
            item=item, account_selection=mode == "new_accounts"
        )
    except PlaidError as error:
        return _plaid_error(error, action="Reconnecting the bank")
    return JsonResponse({"link_token": token.link_token, "expiration": token.expiration})


@require_POST
@login_required
def item_update_complete(request: AuthenticatedRequest, pk: int) -> JsonResponse:
    """Record a finished update-mode Link session for one of the user's Items."""
    item = _own_item(request, pk)
    if item.status == PlaidItem.Status.REVOKED:
        return _error(
            "This connection can no longer be repaired. Unlink it and link the bank again.", 409
        )
    linking.item_update_complete(item=item)
    name = item.institution_name or "Your bank"
    messages.success(request, f"{name} is reconnected. Fetching balances…")
    return JsonResponse({"redirect": reverse("dashboard")})


@require_http_methods(["GET", "POST"])
@login_required
def item_unlink(request: AuthenticatedRequest, pk: int) -> HttpResponse:
    """GET: show what unlinking `pk` does. POST: remove it at Plaid and here."""
    item = _own_item(request, pk)
    accounts = list(item.accounts.filter(closed_at__isnull=True))
    if request.method == "POST":
        name = item.institution_name or item.institution_id or "The bank"
        try:
            linking.item_unlink(item=item)
        except services.LinkError as exc:
            messages.error(request, str(exc))
            return redirect("item_unlink", pk=pk)
        messages.success(request, f"{name} is unlinked; its accounts and history are deleted.")
        return redirect("dashboard")
    snapshots = BalanceSnapshot.objects.filter(account__item=item).count()
    return render(
        request,
        "balances/unlink_confirm.html",
        {"item": item, "accounts": accounts, "snapshot_count": snapshots},
    )
