"""Read-only admins of what refreshes write: accounts, balance snapshots, the call log."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from balances.admin.permissions import StaffViewSuperuserChangeMixin
from balances.domain.amounts import decimal_text
from balances.models import Account, BalanceSnapshot, PlaidCall


def admin_money(amount: Decimal | None, account: Account) -> str:
    """Return `amount` as money for staff: "409.87 USD", "1,234.5678 USD", "0.51234 BTC".

    Exact (staff compare it with Plaid's figures): nothing is rounded, only the trailing
    zeros of the stored 10-decimal value are dropped, official currencies keeping two.
    None (the bank reported none) is a dash, never 0.
    """
    text = decimal_text(amount, official=account.currency_is_official)
    if text is None:
        return "—"
    return f"{Decimal(text):,f} {account.currency}".strip()


class AccountAmounts:
    """The balances of an Account row as money (`obj.account` for a snapshot)."""

    @staticmethod
    def _account(obj: Any) -> Account:
        return obj if isinstance(obj, Account) else obj.account

    @admin.display(description="Available", ordering="available")
    def available_amount(self, obj: Any) -> str:
        return admin_money(obj.available, self._account(obj))

    @admin.display(description="Current", ordering="current")
    def current_amount(self, obj: Any) -> str:
        return admin_money(obj.current, self._account(obj))

    @admin.display(description="Limit", ordering="limit")
    def limit_amount(self, obj: Any) -> str:
        return admin_money(obj.limit, self._account(obj))


ACCOUNT_READONLY = (
    "name",
    "mask",
    "type",
    "subtype",
    "iso_currency_code",
    "unofficial_currency_code",
    "available_amount",
    "current_amount",
    "limit_amount",
    "balances_updated_at",
    "closed_at",
)


class AccountInline(AccountAmounts, StaffViewSuperuserChangeMixin, admin.TabularInline):
    model = Account
    fields = ACCOUNT_READONLY
    readonly_fields = ACCOUNT_READONLY
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Account)
class AccountAdmin(AccountAmounts, StaffViewSuperuserChangeMixin, admin.ModelAdmin):
    list_display = ("name", "mask", "type", "subtype", "current_amount", "item")
    list_filter = ("type",)
    search_fields = ("name", "item__owner__username", "item__institution_name")
    list_select_related = ("item", "item__owner")
    readonly_fields = ("item", "plaid_account_id", *ACCOUNT_READONLY)
    fields = readonly_fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


@admin.register(BalanceSnapshot)
class BalanceSnapshotAdmin(AccountAmounts, StaffViewSuperuserChangeMixin, admin.ModelAdmin):
    list_display = ("account", "taken_at", "available_amount", "current_amount", "limit_amount")
    list_select_related = ("account",)
    date_hierarchy = "taken_at"
    readonly_fields = (
        "account",
        "taken_at",
        "available_amount",
        "current_amount",
        "limit_amount",
    )
    fields = readonly_fields

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
