"""The User admin, with each user's Items: replaces Django's registration of User."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin
from django.contrib.auth.models import User
from django.http import HttpRequest

from balances.admin.permissions import AdminGuardsMixin, StaffViewSuperuserChangeMixin
from balances.models import PlaidItem


class UserItemInline(StaffViewSuperuserChangeMixin, admin.TabularInline):
    """A user's Items on the user's admin page: read-only, each linking to its own page."""

    model = PlaidItem
    fk_name = "owner"
    fields = ("institution_name", "status", "error_code", "last_refreshed_at", "expires_at")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True
    verbose_name_plural = "Plaid Items (bank connections)"

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class UserWithItemsAdmin(AdminGuardsMixin, UserAdmin):
    inlines = [*UserAdmin.inlines, UserItemInline]


if admin.site.is_registered(User):
    admin.site.unregister(User)
admin.site.register(User, UserWithItemsAdmin)
