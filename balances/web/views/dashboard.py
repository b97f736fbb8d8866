"""The dashboard, and "Refresh now"."""

from __future__ import annotations

import logging
import math
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import User
from django.http import HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST
from kombu.exceptions import OperationalError

from balances.domain import periods
from balances.models import PlaidItem
from balances.selectors import costs
from balances.selectors.dashboard import dashboard_for_user
from balances.services import queueing
from balances.shared_state.api import SharedStateUnavailable
from balances.web.forms import clean_period, clean_range, clean_view
from balances.web.presenters import chart_json
from balances.web.streaming import render_streaming
from balances.web.views import AuthenticatedRequest

logger = logging.getLogger(__name__)


@require_GET
@login_required
def dashboard(request: AuthenticatedRequest) -> StreamingHttpResponse:
    """Show net worth (now, its change and over time) and accounts grouped by type.

    GET `range` (30d, 90d, 1y, all) picks the chart's range, `since` (1w, 1m, 3m, 1y) the
    change's period; both work without JavaScript. `view=household` shows the user's
    accounts and those shared with them ("Mine" otherwise), each shared one marked with
    its owner. Queues a real-time refresh of the user's Items whose real-time balances
    are older than BALANCE_REFRESH_ON_OPEN_AFTER (throttled; the page then shows them as
    refreshing and updates itself), and says when PLAID_BALANCE_MONTHLY_BUDGET is spent
    (balances are Plaid's cached ones since then). Streams the page: its header and
    navigation first, then the figures (`balances.web.streaming`).
    """
    range_key = clean_range(request.GET.get("range"))
    period_key = clean_period(request.GET.get("since"))
    household = clean_view(request.GET.get("view"))

    def context() -> dict[str, Any]:
        return dashboard_context(
            user=request.user, range_key=range_key, period_key=period_key, household=household
        )

    # The header and navigation go out before the figures are read (time to first byte
    # flat in the number of accounts); the figures follow in the same response.
    return render_streaming(request, "balances/dashboard.html", context)


def dashboard_context(
    *, user: User, range_key: str, period_key: str, household: bool
) -> dict[str, Any]:
    """Return the dashboard template's figures (its slow part: every query of the page
    but the header's); queue the refresh opening the page calls for."""
    board = dashboard_for_user(
        user=user,
        range_key=range_key,
        period_key=period_key,
        accounts_per_group=settings.DASHBOARD_ACCOUNTS_PER_GROUP,
        connections_shown=settings.DASHBOARD_CONNECTIONS_SHOWN,
        household=household,
    )
    if queueing.items_queue_refresh_on_open(items=[f.item for f in board.items]):
        board = replace(board, pending=True)  # the queued Items show as refreshing
    return {
        "board": board,
        "has_household": board.has_household,
        "totals": board.totals,
        "groups": board.groups,
        "items": board.items,
        "connections": board.connections,
        "connections_hidden": board.connections_hidden,
        "chart_data": chart_json(board.history),
        "ranges": periods.RANGES,
        "periods": periods.PERIODS,
        "budget": _spent_budget(),
    }


def _spent_budget() -> costs.BudgetStatus | None:
    """The month's budget when it is spent (the dashboard says so), else None."""
    if settings.PLAID_BALANCE_MONTHLY_BUDGET is None:
        return None
    status = costs.budget_status()
    return status if status.spent else None


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
    # The user's zone (balances.web.time_zones), named: "12:45 CET".
    again = f"{timezone.localtime(next_at):%H:%M %Z} (in {minutes} minute{plural})"
    refreshed = item.last_refreshed_at
    window = timedelta(seconds=settings.BALANCE_REFRESH_NOW_INTERVAL)
    if refreshed is not None and refreshed >= timezone.now() - window:
        return (
            f"{item.display_name} was refreshed at {timezone.localtime(refreshed):%H:%M %Z}. "
            f"The next refresh can run at {again}."
        )
    return f"{item.display_name} was asked for a refresh recently. The next one can run at {again}."
