"""Thin views: read through selectors, write through services."""

from __future__ import annotations

import logging

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import User
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST
from kombu.exceptions import OperationalError

from . import selectors, services

logger = logging.getLogger(__name__)


class AuthenticatedRequest(HttpRequest):
    """A request behind @login_required."""

    user: User


@require_GET
@login_required
def dashboard(request: AuthenticatedRequest) -> HttpResponse:
    """Show the user's net worth and accounts grouped by type."""
    accounts = list(selectors.accounts_for_user(user=request.user))
    items = list(selectors.items_for_user(user=request.user))
    context = {
        "totals": selectors.totals_by_currency(accounts),
        "groups": selectors.group_accounts(accounts),
        "items": selectors.items_freshness(items),
    }
    return render(request, "balances/dashboard.html", context)


@require_POST
@login_required
def refresh(request: AuthenticatedRequest) -> HttpResponse:
    """Queue a refresh of the user's Items."""
    try:
        queued = services.user_queue_refresh(user=request.user)
    except OperationalError:
        logger.exception("Cannot queue a refresh: the task queue is unreachable")
        messages.error(
            request,
            "Balances could not be refreshed right now: the background queue is not "
            "reachable. Your balances are unchanged; try again in a few minutes.",
        )
    else:
        if queued:
            messages.success(
                request,
                f"Refreshing {queued} connection{'s' if queued != 1 else ''}. "
                "New balances appear in a few seconds; reload the page.",
            )
        else:
            messages.info(request, "No connection can be refreshed right now.")
    return redirect("dashboard")
