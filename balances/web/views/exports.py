"""Data out: the dashboard's figures as JSON, accounts and balance history as CSV.

The session user's own data; with `view=household`, the accounts shared with them too
(as `selectors/households.py` decides), each row with its owner (column `owner`). Never
cached by the browser or a proxy.
"""

from __future__ import annotations

import csv
import itertools
from collections.abc import Iterable, Iterator
from datetime import tzinfo

from django.contrib.auth.decorators import login_required
from django.http import JsonResponse, StreamingHttpResponse
from django.utils import timezone
from django.views.decorators.http import require_GET

from balances.selectors import exports
from balances.selectors.dashboard import dashboard_for_user
from balances.web import presenters
from balances.web.forms import clean_period, clean_range, clean_view
from balances.web.views import AuthenticatedRequest


class _Echo:
    """A file-like object whose write() returns the line, for streaming csv.writer."""

    def write(self, value: str) -> str:
        return value


def _in_zone(rows: Iterable[list[str]], zone: tzinfo) -> Iterator[list[str]]:
    """Yield `rows`, each made with `zone` active."""
    iterator = iter(rows)
    while True:
        with timezone.override(zone):
            row = next(iterator, None)
        if row is None:
            return
        yield row


def _csv_response(
    header: Iterable[list[str]], rows: Iterable[list[str]], filename: str
) -> StreamingHttpResponse:
    writer = csv.writer(_Echo())
    # The rows are made while the response streams, after the middleware has put back the
    # site's zone: each is made in the user's (its times' human column).
    zone = timezone.get_current_timezone()

    def lines() -> Iterator[str]:
        for row in itertools.chain(header, _in_zone(rows, zone)):
            yield writer.writerow(row)

    response = StreamingHttpResponse(
        lines(),
        content_type="text/csv; charset=utf-8",
    )
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Cache-Control"] = "private, no-store"
    return response


@require_GET
@login_required
def dashboard_api(request: AuthenticatedRequest) -> JsonResponse:
    """Serve the dashboard's figures as JSON (read-only, what the session user sees:
    with `view=household`, the accounts shared with them too)."""
    board = dashboard_for_user(
        user=request.user,
        range_key=clean_range(request.GET.get("range")),
        period_key=clean_period(request.GET.get("since")),
        household=clean_view(request.GET.get("view")),
    )
    response = JsonResponse(presenters.dashboard_json(board))
    response["Cache-Control"] = "private, no-store"
    return response


@require_GET
@login_required
def export_accounts_csv(request: AuthenticatedRequest) -> StreamingHttpResponse:
    """Download the user's accounts (closed ones too) with their latest balances, then the
    accounts entered by hand with their latest values (column `source`); with
    `view=household`, those shared with them too, and a last column `owner`."""
    household = clean_view(request.GET.get("view"))
    user = request.user
    rows: Iterable[list[str]] = itertools.chain(
        (
            _owned(presenters.account_csv_row(a), a, household)
            for a in exports.accounts_for_export(user=user, household=household)
        ),
        (
            _owned(presenters.manual_account_csv_row(m), m, household)
            for m in exports.manual_accounts_for_export(user=user, household=household)
        ),
    )
    return _csv_response(
        [_header(presenters.ACCOUNT_COLUMNS, household)],
        rows,
        f"accounts-{timezone.localdate():%Y-%m-%d}.csv",
    )


def _header(columns: list[str], household: bool) -> list[str]:
    return [*columns, "owner"] if household else columns


def _owned(row: list[str], obj: object, household: bool) -> list[str]:
    """Add the owner's username to `row` in the household view (annotated `owner_name`)."""
    return [*row, presenters.csv_text(getattr(obj, "owner_name", ""))] if household else row


@require_GET
@login_required
def export_history_csv(request: AuthenticatedRequest) -> StreamingHttpResponse:
    """Download every balance snapshot of the user's accounts, oldest first, then every
    value entered by hand, oldest day first (streamed; column `source`); with
    `view=household`, of those shared with them too, and a last column `owner`."""
    household = clean_view(request.GET.get("view"))
    user = request.user
    rows: Iterable[list[str]] = itertools.chain(
        (
            [*presenters.snapshot_csv_row(row[:-1]), presenters.csv_text(row[-1])]
            if household
            else presenters.snapshot_csv_row(row[:-1])
            for row in exports.snapshots_for_export(user=user, household=household)
        ),
        (
            _owned(presenters.manual_value_csv_row(v), v, household)
            for v in exports.manual_values_for_export(user=user, household=household)
        ),
    )
    return _csv_response(
        [_header(presenters.HISTORY_COLUMNS, household)],
        rows,
        f"balance-history-{timezone.localdate():%Y-%m-%d}.csv",
    )
