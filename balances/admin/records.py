"""Read-only admins of what refreshes write: accounts, balance snapshots, the call log."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from balances.admin.permissions import StaffViewSuperuserChangeMixin
from balances.models import Account, BalanceSnapshot, PlaidCall

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
