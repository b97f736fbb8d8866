"""Admin for staff: Items with their accounts. The access token is never shown or editable."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib import admin, messages
from django.db.models import Count, Q, QuerySet
from django.http import HttpRequest
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from kombu.exceptions import OperationalError

from . import services
from .admin_operations import (
    AttentionFilter,
    clear_error_and_retry,
    remove_at_plaid,
    status_history_html,
)
from .admin_permissions import StaffViewSuperuserChangeMixin
from .models import Account, BalanceSnapshot, PlaidCall, PlaidItem
from .throttle import ThrottleUnavailable

# Rows of the call log shown on an Item's page (the full log is under "Plaid calls").
RECENT_CALLS = 20

ACCOUNT_READONLY = (
    "name",
    "mask",
    "type",
    "subtype",
    "iso_currency_code",
    "unofficial_currency_code",
    "available",
    "current",
    "limit",
    "balances_updated_at",
    "closed_at",
)


class AccountInline(StaffViewSuperuserChangeMixin, admin.TabularInline):
    model = Account
    fields = ACCOUNT_READONLY
    readonly_fields = ACCOUNT_READONLY
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class FreshnessFilter(admin.SimpleListFilter):
    """Items whose last successful refresh is older than BALANCE_STALE_AFTER."""

    title = "freshness"
    parameter_name = "freshness"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("stale", "Stale (or never refreshed)"), ("fresh", "Fresh")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        cutoff = timezone.now() - timedelta(seconds=settings.BALANCE_STALE_AFTER)
        stale = Q(last_refreshed_at__isnull=True) | Q(last_refreshed_at__lt=cutoff)
        if self.value() == "stale":
            return queryset.filter(stale)
        if self.value() == "fresh":
            return queryset.exclude(stale)
        return queryset


@admin.register(PlaidItem)
class PlaidItemAdmin(StaffViewSuperuserChangeMixin, admin.ModelAdmin):
    list_display = (
        "institution_name",
        "owner",
        "status",
        "account_count",
        "last_refreshed_at",
        "is_stale",
        "error_code",
        "warning_code",
    )
    list_filter = (
        "status",
        FreshnessFilter,
        AttentionFilter,
        "warning_code",
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
        return super().get_queryset(request).annotate(_account_count=Count("accounts"))

    @admin.display(description="Accounts", ordering="_account_count")
    def account_count(self, obj: PlaidItem) -> int:
        return int(getattr(obj, "_account_count", 0))

    @admin.display(description="Stale", boolean=True)
    def is_stale(self, obj: PlaidItem) -> bool:
        cutoff = timezone.now() - timedelta(seconds=settings.BALANCE_STALE_AFTER)
        return obj.last_refreshed_at is None or obj.last_refreshed_at < cutoff

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
                    timezone.localtime(c.called_at).strftime("%Y-%m-%d %H:%M:%S"),
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
            queued = services.items_queue_refresh(items=queryset)
        except (OperationalError, ThrottleUnavailable):
            self.message_user(
                request, "The task queue is unreachable; nothing was queued.", messages.ERROR
            )
            return
        skipped = queryset.count() - queued
        text = f"Queued a refresh of {queued} item(s)."
        if skipped:
            text += f" Skipped {skipped} needing re-login, revoked, or already refreshing."
        self.message_user(request, text, messages.SUCCESS)


@admin.register(Account)
class AccountAdmin(StaffViewSuperuserChangeMixin, admin.ModelAdmin):
    list_display = ("name", "mask", "type", "subtype", "current", "item")
    list_filter = ("type",)
    search_fields = ("name", "item__owner__username", "item__institution_name")
    list_select_related = ("item", "item__owner")
    readonly_fields = ("item", "plaid_account_id", *ACCOUNT_READONLY)
    fields = readonly_fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


@admin.register(BalanceSnapshot)
class BalanceSnapshotAdmin(StaffViewSuperuserChangeMixin, admin.ModelAdmin):
    list_display = ("account", "taken_at", "available", "current", "limit")
    list_select_related = ("account",)
    date_hierarchy = "taken_at"
    readonly_fields = ("account", "taken_at", "available", "current", "limit")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(PlaidCall)
class PlaidCallAdmin(StaffViewSuperuserChangeMixin, admin.ModelAdmin):
    """The per-Item log of Plaid calls: read-only, newest first."""

    list_display = ("called_at", "item", "endpoint", "error_code", "request_id", "duration_ms")
    list_filter = ("endpoint", "error_code")
    search_fields = ("request_id", "item__plaid_item_id", "item__owner__username")
    list_select_related = ("item", "item__owner")
    date_hierarchy = "called_at"
    readonly_fields = ("item", "called_at", "endpoint", "request_id", "error_code", "duration_ms")
    fields = readonly_fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
