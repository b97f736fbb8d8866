"""The dashboard, and "Refresh now"."""

from __future__ import annotations

import logging
import math
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST
from kombu.exceptions import OperationalError

from balances.domain import periods
from balances.models import PlaidItem
from balances.selectors.dashboard import dashboard_for_user
from balances.services import queueing
from balances.shared_state.api import SharedStateUnavailable
from balances.web.forms import clean_period, clean_range
from balances.web.presenters import chart_json
from balances.web.views import AuthenticatedRequest

logger = logging.getLogger(__name__)


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
        "ranges": periods.RANGES,
        "periods": periods.PERIODS,
    }
    return render(request, "balances/dashboard.html", context)


@require_POST
@login_required
def refresh(request: AuthenticatedRequest) -> HttpResponse:
    """Queue a real-time refresh of the user's Items ("Refresh now"), within its limits."""
    try:
        outcome = queueing.user_queue_refresh(user=request.user)
    except (OperationalError, SharedStateUnavailable):
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
        # Queued, running or waiting to retry: the dashboard shows it as refreshing too.
        messages.info(request, f"{item.display_name} is already being refreshed.")
    for item, next_at in outcome.throttled:
        messages.info(request, _throttled_message(item, next_at))
    if not (outcome.queued or outcome.pending or outcome.throttled):
        messages.info(request, "No connection can be refreshed right now.")
    return redirect("dashboard")


def _throttled_message(item: PlaidItem, next_at: datetime) -> str:
    """Say when `item` can be refreshed on demand again, and when it last was: a fact from
    the Item, never inferred from the request (which may have failed)."""
    minutes = max(1, math.ceil((next_at - timezone.now()).total_seconds() / 60))
    plural = "s" if minutes != 1 else ""
    again = f"{timezone.localtime(next_at):%H:%M} (in {minutes} minute{plural})"
    refreshed = item.last_refreshed_at
    window = timedelta(seconds=settings.BALANCE_REFRESH_NOW_INTERVAL)
    if refreshed is not None and refreshed >= timezone.now() - window:
        return (
            f"{item.display_name} was refreshed at {timezone.localtime(refreshed):%H:%M}. "
            f"The next refresh can run at {again}."
        )
    return f"{item.display_name} was asked for a refresh recently. The next one can run at {again}."
