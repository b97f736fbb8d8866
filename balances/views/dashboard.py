"""Thin views: read through selectors, write through services."""

from __future__ import annotations

import logging
import math

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST
from kombu.exceptions import OperationalError

from .. import selectors, services
from ..dashboard import chart_json, clean_period, clean_range, dashboard_for_user
from ..models import PlaidItem
from ..selectors import AccountGroup
from ..throttle import ThrottleUnavailable
from . import AuthenticatedRequest

logger = logging.getLogger(__name__)

# Rows per page of the full lists (a type's accounts, the connections).
PAGE_SIZE = 100


@require_GET
@login_required
def dashboard(request: AuthenticatedRequest) -> HttpResponse:
    """Show net worth (now, its change and over time) and accounts grouped by type.

    GET `range` (30d, 90d, 1y, all) picks the chart's range, `since` (1w, 1m, 3m, 1y) the
    change's period; both work without JavaScript.
    """
    board = dashboard_for_user(
        user=request.user,
        range_key=clean_range(request.GET.get("range")),
        period_key=clean_period(request.GET.get("since")),
        accounts_per_group=settings.DASHBOARD_ACCOUNTS_PER_GROUP,
        connections_shown=settings.DASHBOARD_CONNECTIONS_SHOWN,
    )
    context = {
        "board": board,
        "totals": board.totals,
        "groups": board.groups,
        "items": board.items,
        "connections": board.connections,
        "connections_hidden": board.connections_hidden,
        "chart_data": chart_json(board.history),
        "ranges": selectors.RANGES,
        "periods": selectors.PERIODS,
    }
    return render(request, "balances/dashboard.html", context)


@require_GET
@login_required
def account_group(request: AuthenticatedRequest, group: str) -> HttpResponse:
    """List all of the user's open accounts of one dashboard group (`group`: "depository"
    for Cash, "credit", ...) by institution, PAGE_SIZE a page (GET `page`); 404 for an
    unknown group."""
    label = selectors.group_label(group)
    if label is None:
        raise Http404("No such type of account.")
    accounts = selectors.accounts_in_group(user=request.user, key=group)
    page = Paginator(accounts, PAGE_SIZE).get_page(request.GET.get("page"))
    main_currency = selectors.main_currency_for(user=request.user)
    balances = selectors.account_balances(user=request.user)
    summary = selectors.group_balances(
        [b for b in balances if selectors.group_key(b) == group], main_currency=main_currency
    )
    context = {
        "group": summary[0] if summary else AccountGroup(group, label, group in ("credit", "loan")),
        "page": page,
    }
    return render(request, "balances/account_group.html", context)


@require_GET
@login_required
def connections(request: AuthenticatedRequest) -> HttpResponse:
    """List all of the user's bank connections with their state, PAGE_SIZE a page."""
    items = selectors.items_for_user(user=request.user)
    page = Paginator(items, PAGE_SIZE).get_page(request.GET.get("page"))
    context = {"connections": selectors.items_freshness(list(page)), "page": page}
    return render(request, "balances/connections.html", context)


@require_POST
@login_required
def refresh(request: AuthenticatedRequest) -> HttpResponse:
    """Queue a real-time refresh of the user's Items ("Refresh now"), within its limits."""
    try:
        outcome = services.user_queue_refresh(user=request.user)
    except (OperationalError, ThrottleUnavailable):
        logger.exception("Cannot queue a refresh: the task queue or Redis is unreachable")
        messages.error(
            request,
            "Balances could not be refreshed right now: the background service is not "
            "reachable. Your balances are unchanged; try again in a few minutes.",
        )
        return redirect("dashboard")
    if outcome.queued:
        count = len(outcome.queued)
        messages.success(
            request,
            f"Refreshing {count} connection{'s' if count != 1 else ''}. "
            "New balances appear here as soon as they arrive.",
        )
    for item in outcome.pending:
        messages.info(request, f"{_item_name(item)} is already being refreshed.")
    for item, next_at in outcome.throttled:
        minutes = max(1, math.ceil((next_at - timezone.now()).total_seconds() / 60))
        plural = "s" if minutes != 1 else ""
        messages.info(
            request,
            f"{_item_name(item)} was refreshed moments ago. The next refresh can run at "
            f"{timezone.localtime(next_at):%H:%M} (in {minutes} minute{plural}).",
        )
    if not (outcome.queued or outcome.pending or outcome.throttled):
        messages.info(request, "No connection can be refreshed right now.")
    return redirect("dashboard")


def _item_name(item: PlaidItem) -> str:
    return item.institution_name or item.institution_id or "This bank"
