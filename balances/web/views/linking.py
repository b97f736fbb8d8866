"""Views for Plaid Link: JSON endpoints for static/js/link.js, the OAuth return page, and
the unlink page.

Every endpoint needs a login; every write is a CSRF-protected POST. Another user's Item
is a 404. Errors come back as `{"error": "<message for the user>"}` and change nothing.
JSON bodies are read by `balances.web.json_body` (bounded; anything else is a 400).
"""

from __future__ import annotations

import logging
import re
import time
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from balances.models import PlaidItem
from balances.plaid.errors import CONFIGURATION_CODES, PlaidError, user_message
from balances.plaid.link_metadata import MetadataError, parse_link_metadata
from balances.selectors.accounts import item_for_user, open_accounts, snapshot_count
from balances.selectors.items import items_sharing_accounts
from balances.services import linking
from balances.web.forms import PUBLIC_TOKEN_RE
from balances.web.json_body import json_body
from balances.web.views import AuthenticatedRequest

logger = logging.getLogger(__name__)

# The update-mode Link sessions this browser session started, by Item id: when each
# started. "Reconnected" consumes one, so it is accepted only after a real update-mode
# Link for that Item, once. Plaid's Link tokens live 4 hours.
UPDATE_LINKS_SESSION_KEY = "update_links_started"
UPDATE_LINK_MAX_AGE = 4 * 60 * 60

# The last Link session this browser session started (any mode): its link token, owner,
# start time and, in update mode, its Item. An OAuth bank sends the browser back to
# /link/oauth-return/, which re-opens Link with this token, never one from the URL. Replaced
# by the next Link token, dropped once that Link finishes here; lives as long as the token.
OAUTH_LINK_SESSION_KEY = "oauth_link"
LINK_TOKEN_MAX_AGE = 4 * 60 * 60
# Plaid's oauth_state_id is a UUID; anything far from that is not a real return.
OAUTH_STATE_ID_RE = re.compile(r"\A[A-Za-z0-9_-]{1,128}\Z")

# A message that says balances are being fetched: dashboard.js rewrites it once the
# refresh of the Item it names (`item-<pk>`) has ended, whether before the page was read
# or while it polls.
FETCHING_TAG = "fetching"


def fetching_tags(item: PlaidItem) -> str:
    """The message tags of "<bank> is linked/reconnected. Fetching balances…"."""
    return f"{FETCHING_TAG} item-{item.pk}"


def _error(message: str, status: int) -> JsonResponse:
    return JsonResponse({"error": message}, status=status)


def _plaid_error(error: PlaidError, *, action: str) -> JsonResponse:
    """Turn a failed Plaid call into a message for the user; `action` is what failed."""
    if error.code in CONFIGURATION_CODES:
        logger.error("Plaid is not configured: %r", error)
    message = user_message(error, action=action)
    return _error(message.text, message.status)


def _update_link_started(request: AuthenticatedRequest, item: PlaidItem) -> None:
    started = dict(request.session.get(UPDATE_LINKS_SESSION_KEY) or {})
    started[str(item.pk)] = time.time()
    request.session[UPDATE_LINKS_SESSION_KEY] = started


def _update_link_take(request: AuthenticatedRequest, item: PlaidItem) -> bool:
    """Consume the update-mode Link this session started for `item`; return whether one
    was started within UPDATE_LINK_MAX_AGE."""
    started = dict(request.session.get(UPDATE_LINKS_SESSION_KEY) or {})
    at = started.pop(str(item.pk), None)
    if at is None:
        return False
    request.session[UPDATE_LINKS_SESSION_KEY] = started
    return isinstance(at, int | float) and 0 <= time.time() - at <= UPDATE_LINK_MAX_AGE


def _oauth_link_started(
    request: AuthenticatedRequest, *, link_token: str, item: PlaidItem | None
) -> None:
    request.session[OAUTH_LINK_SESSION_KEY] = {
        "user": request.user.pk,
        "token": link_token,
        "started": time.time(),
        "item": item.pk if item is not None else None,
    }


def _oauth_link_finished(request: AuthenticatedRequest) -> None:
    request.session.pop(OAUTH_LINK_SESSION_KEY, None)


def _oauth_link_pending(request: AuthenticatedRequest) -> dict[str, Any] | None:
    """Return the Link session this browser started for the signed-in user, if any.

    Raise LookupError with a message for the user when there is one but it cannot resume:
    another user's, or its link token is past Plaid's 4 hours.
    """
    note = request.session.get(OAUTH_LINK_SESSION_KEY)
    if not isinstance(note, dict) or not isinstance(note.get("token"), str):
        return None
    started = note.get("started")
    if note.get("user") != request.user.pk:
        _oauth_link_finished(request)
        raise LookupError(
            "The bank sent back a link that another sign-in started, so nothing was linked. "
            "Start again with Link a bank."
        )
    if not isinstance(started, int | float) or not 0 <= time.time() - started <= (
        LINK_TOKEN_MAX_AGE
    ):
        _oauth_link_finished(request)
        raise LookupError(
            "This bank link took longer than Plaid allows (4 hours), so nothing was linked. "
            "Start again."
        )
    return note


def _own_item(request: AuthenticatedRequest, pk: int) -> PlaidItem:
    """Return the user's Item `pk`; 404 for another user's or a missing one."""
    item = item_for_user(user=request.user, pk=pk)
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
    _oauth_link_started(request, link_token=token.link_token, item=None)
    return JsonResponse({"link_token": token.link_token, "expiration": token.expiration})


@require_POST
@login_required
def link_exchange(request: AuthenticatedRequest) -> JsonResponse:
    """Store the bank Link just connected: exchange its public token, queue a refresh."""
    try:
        body = json_body(request)
        metadata = parse_link_metadata(body.get("metadata"))
    except (ValueError, MetadataError) as exc:
        return _error(f"{exc} Nothing was added.", 400)
    public_token = body.get("public_token")
    if not public_token:
        return _error("No public token was received from Plaid Link, so nothing was added.", 400)
    if not isinstance(public_token, str) or not PUBLIC_TOKEN_RE.match(public_token):
        return _error("The public token from Plaid Link is malformed, so nothing was added.", 400)
    try:
        item = linking.item_link(user=request.user, public_token=public_token, metadata=metadata)
    except linking.ItemAlreadyLinked as exc:
        _oauth_link_finished(request)
        messages.info(request, str(exc))
        return JsonResponse({"redirect": reverse("dashboard"), "duplicate": True})
    except linking.LinkError as exc:
        return _error(str(exc), 400)
    except PlaidError as error:
        return _plaid_error(error, action="Linking the bank")
    _oauth_link_finished(request)
    messages.success(
        request,
        f"{item.display_name} is linked. Fetching balances… they appear here in a few seconds.",
        extra_tags=fetching_tags(item),
    )
    shared = items_sharing_accounts(item=item)
    if shared:
        # A bank linked twice: its shared accounts count once; the user picks one to keep.
        messages.warning(request, linked_twice_message(item, shared))
        return JsonResponse({"redirect": reverse("item_keep", args=[item.pk]), "item": item.pk})
    return JsonResponse({"redirect": reverse("dashboard"), "item": item.pk})


def linked_twice_message(item: PlaidItem, others: list[PlaidItem]) -> str:
    """Return what the user reads when `item` shares accounts with `others` (their own)."""
    names = ", ".join(o.display_name for o in others)
    return (
        f"{item.display_name} is also linked in another connection ({names}). "
        "Each account they share counts once in your net worth; choose which connection "
        "to keep."
    )


@require_POST
@login_required
def item_link_token(request: AuthenticatedRequest, pk: int) -> JsonResponse:
    """Create an update-mode Link token for one of the user's Items.

    Body `{"mode": "reconnect"}` (default) repairs the login; `{"mode": "new_accounts"}`
    lets the user add accounts Plaid reported as new.
    """
    item = _own_item(request, pk)
    try:
        mode = json_body(request).get("mode", "reconnect")
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
    _update_link_started(request, item)
    _oauth_link_started(request, link_token=token.link_token, item=item)
    return JsonResponse({"link_token": token.link_token, "expiration": token.expiration})


@require_POST
@login_required
def item_update_complete(request: AuthenticatedRequest, pk: int) -> JsonResponse:
    """Record a finished update-mode Link session for one of the user's Items.

    Accepted once per update-mode Link token this session got for the Item
    (`item_link_token`); its refresh stays within "Refresh now"'s limits.
    """
    item = _own_item(request, pk)
    if item.status == PlaidItem.Status.REVOKED:
        return _error(
            "This connection can no longer be repaired. Unlink it and link the bank again.", 409
        )
    if not _update_link_take(request, item):
        return _error(
            "No reconnection of this bank is in progress, so nothing was changed. "
            "Use its Reconnect button to start one.",
            409,
        )
    _oauth_link_finished(request)
    if linking.item_update_complete(item=item):
        text = f"{item.display_name} is reconnected. Fetching balances…"
        tags = fetching_tags(item)
    else:
        text = f"{item.display_name} is reconnected. Its balances update with the next refresh."
        tags = ""
    messages.success(request, text, extra_tags=tags)
    return JsonResponse({"redirect": reverse("dashboard")})


@require_GET
@login_required
@never_cache
def link_oauth_return(request: AuthenticatedRequest) -> HttpResponse:
    """Resume Link after an OAuth bank sent the browser back (`?oauth_state_id=...`).

    Re-opens Link (static/js/link.js) with the link token this browser session started for
    the signed-in user, never one from the URL; Link then finishes through the usual
    endpoints (exchange, or update mode's "reconnected"). Anything else goes back to the
    dashboard with a message and links nothing.
    """
    state_id = request.GET.get("oauth_state_id", "")
    if not OAUTH_STATE_ID_RE.match(state_id):
        messages.error(
            request, "This return from your bank is not a valid Plaid link, so nothing was linked."
        )
        return redirect("dashboard")
    try:
        note = _oauth_link_pending(request)
    except LookupError as exc:
        messages.error(request, str(exc))
        return redirect("dashboard")
    if note is None:
        messages.error(
            request,
            "No bank link was in progress in this browser, so nothing was linked. "
            "Start again with Link a bank.",
        )
        return redirect("dashboard")
    item = None
    if note.get("item") is not None:
        item = item_for_user(user=request.user, pk=note["item"])
        if item is None or item.status == PlaidItem.Status.REVOKED:
            _oauth_link_finished(request)
            messages.error(
                request, "The connection being reconnected is gone, so nothing was changed."
            )
            return redirect("dashboard")
    return render(
        request,
        "balances/link_oauth_return.html",
        {"link_token": note["token"], "item": item},
    )


@require_http_methods(["GET", "POST"])
@login_required
def item_unlink(request: AuthenticatedRequest, pk: int) -> HttpResponse:
    """GET: show what unlinking `pk` does. POST: remove it at Plaid and here."""
    item = _own_item(request, pk)
    accounts = open_accounts(item=item)
    if request.method == "POST":
        name = item.display_name
        try:
            linking.item_unlink(item=item)
        except linking.LinkError as exc:
            messages.error(request, str(exc))
            return redirect("item_unlink", pk=pk)
        messages.success(request, f"{name} is unlinked; its accounts and history are deleted.")
        return redirect("dashboard")
    snapshots = snapshot_count(item=item)
    return render(
        request,
        "balances/unlink_confirm.html",
        {"item": item, "accounts": accounts, "snapshot_count": snapshots},
    )
