"""Operator actions in the admin (clear an error and retry, remove at Plaid), and an
Item's status history.

Every admin action is offered to, and runs for, superusers only (`permissions.py`,
`AdminGuardsMixin`: staff look, superusers act); those that change an Item also need the
change (clear an error) or delete (remove at Plaid) permission.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.db.models import QuerySet
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from kombu.exceptions import OperationalError

from balances.models import PlaidItem
from balances.selectors.items import item_status_history
from balances.services import operations
from balances.services.linking import LinkError


def status_history_html(item: PlaidItem) -> str:
    """Render the Item's outcome periods (from its call log) as a small table."""
    periods = item_status_history(item=item)
    if not periods:
        return "No Plaid calls yet."

    def when(value: Any) -> str:
        return str(timezone.localtime(value).strftime("%Y-%m-%d %H:%M %Z"))

    rows = format_html_join(
        "",
        "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
        ((p.outcome, when(p.since), when(p.until), p.calls) for p in periods),
    )
    return format_html(
        "<table><thead><tr><th>Outcome</th><th>From</th><th>To</th><th>Calls</th></tr>"
        "</thead><tbody>{}</tbody></table>",
        rows,
    )


@admin.action(description="Clear the error and retry", permissions=["change"])
def clear_error_and_retry(
    modeladmin: admin.ModelAdmin[PlaidItem], request: HttpRequest, queryset: QuerySet[PlaidItem]
) -> None:
    """Mark the selected Items healthy and queue a real-time refresh of each."""
    cleared = queued = 0
    try:
        for item in queryset:
            cleared += 1
            queued += operations.item_clear_error(item=item)
    except OperationalError:
        modeladmin.message_user(
            request,
            f"Cleared the error of {cleared} item(s), but the task queue is unreachable: "
            "their refresh was not queued (the next scheduled run does it).",
            messages.ERROR,
        )
        return
    text = f"Cleared the error of {cleared} item(s); queued {queued} refresh(es)."
    if cleared > queued:
        text += f" {cleared - queued} already had a refresh queued or running."
    modeladmin.message_user(request, text, messages.SUCCESS)


@admin.action(description="Remove at Plaid and delete…", permissions=["remove"])
def remove_at_plaid(
    modeladmin: admin.ModelAdmin[PlaidItem], request: HttpRequest, queryset: QuerySet[PlaidItem]
) -> TemplateResponse | None:
    """After a confirmation page, remove each Item at Plaid and delete it here."""
    items = list(queryset.select_related("owner"))
    if request.POST.get("post") != "yes":
        context = {
            **modeladmin.admin_site.each_context(request),
            "title": "Remove at Plaid and delete?",
            "items": items,
            "opts": modeladmin.model._meta,
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            "action": "remove_at_plaid",
        }
        return TemplateResponse(
            request, "admin/balances/plaiditem/remove_at_plaid_confirmation.html", context
        )
    removed: list[str] = []
    failed: list[str] = []
    for item in items:
        name = str(item)
        try:
            operations.item_remove(item=item)
        except LinkError as exc:
            failed.append(f"{name}: {exc}")
        else:
            removed.append(name)
    if removed:
        modeladmin.message_user(
            request, f"Removed {len(removed)} item(s) at Plaid and here.", messages.SUCCESS
        )
    for text in failed:
        modeladmin.message_user(request, text, messages.ERROR)
    return None
