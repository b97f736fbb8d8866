"""The Items admin for staff: Items with their accounts, call log and status history.

The access token is never shown or editable."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import Count, Prefetch, QuerySet
from django.http import HttpRequest
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from kombu.exceptions import OperationalError

from balances.admin.actions import clear_error_and_retry, remove_at_plaid, status_history_html
from balances.admin.filters import AttentionFilter, FreshnessFilter, WarningCodeFilter
from balances.admin.permissions import StaffViewSuperuserChangeMixin
from balances.admin.records import AccountInline
from balances.domain.duplicates import connection_label
from balances.models import Account, PlaidCall, PlaidItem
from balances.selectors import costs
from balances.services import queueing

# Rows of the call log shown on an Item's page (the full log is under "Plaid calls").
RECENT_CALLS = 20
# Users listed in the billed-calls summary above the Items list (the most calls first).
USERS_IN_SUMMARY = 20


@admin.register(PlaidItem)
class PlaidItemAdmin(StaffViewSuperuserChangeMixin, admin.ModelAdmin):
    list_display = (
        "institution_name",
        "owner",
        "status",
        "account_count",
        "last_refreshed",
        "is_fresh",
        "billed",
        "error_code",
        "warning_code",
    )
    list_filter = (
        "status",
        FreshnessFilter,
        AttentionFilter,
        WarningCodeFilter,
        "institution_name",
    )
    search_fields = ("owner__username", "owner__email", "institution_name", "institution_id")
    list_select_related = ("owner",)
    # `access_token_encrypted` is editable=False, so it is in no form; listing the fields
    # keeps it out of every view of the admin.
    fields = (
        "owner",
        "plaid_item_id",
        "institution_id",
        "institution_name",
        "status",
        "error_code",
        "error_message",
        "error_at",
        "last_refreshed_at",
        "refresh_requested_at",
        "warning_code",
        "expires_at",
        "new_accounts_available",
        "last_realtime_at",
        "billed_calls",
        "status_history",
        "recent_calls",
        "created_at",
        "updated_at",
    )
    readonly_fields = (
        "owner",
        "plaid_item_id",
        "institution_id",
        "error_code",
        "error_message",
        "error_at",
        "last_refreshed_at",
        "refresh_requested_at",
        "warning_code",
        "expires_at",
        "new_accounts_available",
        "last_realtime_at",
        "billed_calls",
        "status_history",
        "recent_calls",
        "created_at",
        "updated_at",
    )
    inlines = [AccountInline]
    actions = ["refresh_balances_now", clear_error_and_retry, remove_at_plaid]

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Deleting an Item here alone would leave it linked (and billed) at Plaid: Items go
        # through "Remove at Plaid and delete…". This also stops the admin from deleting a
        # user who still has Items.
        return False

    def has_remove_permission(self, request: HttpRequest) -> bool:
        """Whether `request.user` may remove Items at Plaid (superusers only)."""
        return super().has_delete_permission(request)

    def get_queryset(self, request: HttpRequest) -> QuerySet[PlaidItem]:
        # The accounts' masks tell two connections at one institution apart: one more
        # query a page (the prefetch), not one per row.
        masks = Account.objects.only("pk", "item_id", "mask").order_by("mask", "pk")
        return (
            super()
            .get_queryset(request)
            .annotate(
                _account_count=Count("accounts"),
                _billed_today=costs.billed_calls_subquery(today=True),
                _billed_month=costs.billed_calls_subquery(),
            )
            .prefetch_related(Prefetch("accounts", queryset=masks, to_attr="_masked"))
        )

    @admin.display(description="Accounts", ordering="_account_count")
    def account_count(self, obj: PlaidItem) -> str:
        """How many accounts, with their masks: "3 (…0000, …1111, …3333)"."""
        count = str(int(getattr(obj, "_account_count", 0)))
        masks = [a.mask for a in getattr(obj, "_masked", ()) if a.mask]
        return connection_label(count, masks) if masks else count

    @admin.display(description="Last refreshed", ordering="last_refreshed_at")
    def last_refreshed(self, obj: PlaidItem) -> str:
        """When, in the staff user's time zone, named ("2026-11-30 19:51 JST"): compact, so
        the list fits a 1366 px screen."""
        if obj.last_refreshed_at is None:
            return "never"
        return timezone.localtime(obj.last_refreshed_at).strftime("%Y-%m-%d %H:%M %Z")

    # Green ✔ for fresh balances, red ✖ for stale (or never refreshed): the icon means
    # what the column's name says (it was "Stale", where ✖ then meant fresh).
    @admin.display(description="Fresh", boolean=True)
    def is_fresh(self, obj: PlaidItem) -> bool:
        return not obj.is_stale

    # One column for both counts: two would push the list past a 1366 px screen.
    @admin.display(description="Billed", ordering="_billed_month")
    def billed(self, obj: PlaidItem) -> str:
        """Billed Plaid calls today and this month ("4 / 120"), sorted by the month's."""
        return format_html(
            '<span title="Billed Plaid calls: today / this month">{} / {}</span>',
            int(getattr(obj, "_billed_today", 0)),
            int(getattr(obj, "_billed_month", 0)),
        )

    @admin.display(description="Billed Plaid calls")
    def billed_calls(self, obj: PlaidItem) -> str:
        """Billed calls (/accounts/balance/get) today and this month, with the estimated
        bill when PLAID_BALANCE_PRICE is set (one query)."""
        counts = costs.billed_calls_by_item(item_ids=[obj.pk]).get(obj.pk, costs.CallCounts())
        text = f"{counts.today} today, {counts.month} this month"
        cost = counts.cost_month()
        return text if cost is None else f"{text} (about {cost} this month)"

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> Any:
        """The list, under a summary of billed calls: in all, per user, and the budget."""
        summary = {
            "total": costs.billed_calls_total(),
            "by_user": costs.billed_calls_by_user()[:USERS_IN_SUMMARY],
            "budget": costs.budget_status(),
            "price": costs.price(),
        }
        return super().changelist_view(request, {**(extra_context or {}), "costs": summary})

    @admin.display(description="Status history")
    def status_history(self, obj: PlaidItem) -> str:
        """Render the Item's outcomes over time, from its call log (one query)."""
        return status_history_html(obj)

    @admin.display(description=f"Last {RECENT_CALLS} Plaid calls")
    def recent_calls(self, obj: PlaidItem) -> str:
        """Render the Item's newest call-log rows (one query, at most RECENT_CALLS rows)."""
        calls = list(PlaidCall.objects.filter(item=obj).order_by("-called_at")[:RECENT_CALLS])
        if not calls:
            return "No calls yet."
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (
                    timezone.localtime(c.called_at).strftime("%Y-%m-%d %H:%M:%S %Z"),
                    c.endpoint,
                    c.error_code or "ok",
                    c.request_id,
                    "" if c.duration_ms is None else f"{c.duration_ms} ms",
                )
                for c in calls
            ),
        )
        return format_html(
            "<table><thead><tr><th>Time</th><th>Endpoint</th><th>Outcome</th>"
            "<th>Request id</th><th>Duration</th></tr></thead><tbody>{}</tbody></table>",
            rows,
        )

    def has_add_permission(self, request: HttpRequest) -> bool:
        # Items come from Plaid Link or `link_sandbox_item`, never typed in by hand.
        return False

    @admin.action(description="Refresh balances now")
    def refresh_balances_now(self, request: HttpRequest, queryset: QuerySet[PlaidItem]) -> None:
        try:
            queued = queueing.items_queue_refresh(items=queryset)
        except OperationalError:
            self.message_user(
                request, "The task queue is unreachable; nothing was queued.", messages.ERROR
            )
            return
        skipped = queryset.count() - queued
        text = f"Queued a refresh of {queued} item(s)."
        if skipped:
            text += f" Skipped {skipped} needing re-login, revoked, or already refreshing."
        self.message_user(request, text, messages.SUCCESS)
