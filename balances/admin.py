"""Admin for staff: Items with their accounts. The access token is never shown or editable."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import Count, QuerySet
from django.http import HttpRequest
from kombu.exceptions import OperationalError

from . import services
from .models import Account, BalanceSnapshot, PlaidItem

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


class AccountInline(admin.TabularInline):
    model = Account
    fields = ACCOUNT_READONLY
    readonly_fields = ACCOUNT_READONLY
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(PlaidItem)
class PlaidItemAdmin(admin.ModelAdmin):
    list_display = (
        "institution_name",
        "owner",
        "status",
        "account_count",
        "last_refreshed_at",
        "error_code",
    )
    list_filter = ("status", "institution_name")
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
        "created_at",
        "updated_at",
    )
    inlines = [AccountInline]
    actions = ["refresh_balances_now"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[PlaidItem]:
        return super().get_queryset(request).annotate(_account_count=Count("accounts"))

    @admin.display(description="Accounts", ordering="_account_count")
    def account_count(self, obj: PlaidItem) -> int:
        return int(getattr(obj, "_account_count", 0))

    def has_add_permission(self, request: HttpRequest) -> bool:
        # Items come from Plaid Link or `link_sandbox_item`, never typed in by hand.
        return False

    @admin.action(description="Refresh balances now")
    def refresh_balances_now(self, request: HttpRequest, queryset: QuerySet[PlaidItem]) -> None:
        try:
            queued = services.items_queue_refresh(items=queryset)
        except OperationalError:
            self.message_user(
                request, "The task queue is unreachable; nothing was queued.", messages.ERROR
            )
            return
        skipped = queryset.count() - queued
        text = f"Queued a refresh of {queued} item(s)."
        if skipped:
            text += f" Skipped {skipped} needing re-login or revoked."
        self.message_user(request, text, messages.SUCCESS)


@admin.register(Account)
class AccountAdmin(admin.ModelAdmin):
    list_display = ("name", "mask", "type", "subtype", "current", "item")
    list_filter = ("type",)
    search_fields = ("name", "item__owner__username", "item__institution_name")
    list_select_related = ("item", "item__owner")
    readonly_fields = ("item", "plaid_account_id", *ACCOUNT_READONLY)
    fields = readonly_fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


@admin.register(BalanceSnapshot)
class BalanceSnapshotAdmin(admin.ModelAdmin):
    list_display = ("account", "taken_at", "available", "current", "limit")
    list_select_related = ("account",)
    date_hierarchy = "taken_at"
    readonly_fields = ("account", "taken_at", "available", "current", "limit")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
