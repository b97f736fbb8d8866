"""Data out: the dashboard's figures as JSON, accounts and balance history as CSV.

The session user's own data only; never cached by the browser or a proxy.
"""

from __future__ import annotations

import csv
import itertools
from collections.abc import Iterable

from django.contrib.auth.decorators import login_required
from django.http import JsonResponse, StreamingHttpResponse
from django.utils import timezone
from django.views.decorators.http import require_GET

from balances.selectors import exports
from balances.selectors.dashboard import dashboard_for_user
from balances.web import presenters
from balances.web.forms import clean_period, clean_range
from balances.web.views import AuthenticatedRequest


class _Echo:
    """A file-like object whose write() returns the line, for streaming csv.writer."""

    def write(self, value: str) -> str:
        return value


def _csv_response(
    header: Iterable[list[str]], rows: Iterable[list[str]], filename: str
) -> StreamingHttpResponse:
    writer = csv.writer(_Echo())
    response = StreamingHttpResponse(
        (writer.writerow(row) for row in itertools.chain(header, rows)),
        content_type="text/csv; charset=utf-8",
    )
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Cache-Control"] = "private, no-store"
    return response


@require_GET
@login_required
def dashboard_api(request: AuthenticatedRequest) -> JsonResponse:
    """Serve the dashboard's figures as JSON (read-only, the session user's data only)."""
    board = dashboard_for_user(
        user=request.user,
        range_key=clean_range(request.GET.get("range")),
        period_key=clean_period(request.GET.get("since")),
    )
    response = JsonResponse(presenters.dashboard_json(board))
    response["Cache-Control"] = "private, no-store"
    return response


@require_GET
@login_required
def export_accounts_csv(request: AuthenticatedRequest) -> StreamingHttpResponse:
    """Download the user's accounts (closed ones too) with their latest balances, then the
    accounts entered by hand with their latest values (column `source`)."""
    rows = itertools.chain(
        map(presenters.account_csv_row, exports.accounts_for_export(user=request.user)),
        map(
            presenters.manual_account_csv_row,
            exports.manual_accounts_for_export(user=request.user),
        ),
    )
    return _csv_response(
        [presenters.ACCOUNT_COLUMNS], rows, f"accounts-{timezone.localdate():%Y-%m-%d}.csv"
    )


@require_GET
@login_required
def export_history_csv(request: AuthenticatedRequest) -> StreamingHttpResponse:
    """Download every balance snapshot of the user's accounts, oldest first, then every
    value entered by hand, oldest day first (streamed; column `source`)."""
    rows = itertools.chain(
        map(presenters.snapshot_csv_row, exports.snapshots_for_export(user=request.user)),
        map(
            presenters.manual_value_csv_row,
            exports.manual_values_for_export(user=request.user),
        ),
    )
    return _csv_response(
        [presenters.HISTORY_COLUMNS],
        rows,
        f"balance-history-{timezone.localdate():%Y-%m-%d}.csv",
    )
