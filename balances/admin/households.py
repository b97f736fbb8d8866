"""Household shares in the admin: staff see who shares with whom; a superuser can end a
share (an action: it hides everything it showed at once). Never which accounts' figures."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest

from balances.admin.permissions import StaffViewSuperuserChangeMixin
from balances.models import HouseholdShare
from balances.services.households import share_end


@admin.action(description="End the selected shares", permissions=["change"])
def end_shares(
    modeladmin: HouseholdShareAdmin, request: HttpRequest, queryset: QuerySet[HouseholdShare]
) -> None:
    ended = 0
    for share in queryset.filter(state__in=HouseholdShare.OPEN_STATES):
        try:
            share_end(share=share)
        except ValidationError:
            continue  # ended by one of its parties meanwhile
        ended += 1
    modeladmin.message_user(request, f"{ended} share(s) ended.", messages.SUCCESS)


@admin.register(HouseholdShare)
class HouseholdShareAdmin(StaffViewSuperuserChangeMixin, admin.ModelAdmin):
    list_display = ("owner", "viewer", "state", "all_accounts", "created_at", "ended_at")
    list_filter = ("state", "all_accounts")
    search_fields = ("owner__username", "viewer__username")
    list_select_related = ("owner", "viewer")
    date_hierarchy = "created_at"
    readonly_fields = (
        "owner",
        "viewer",
        "state",
        "all_accounts",
        "created_at",
        "responded_at",
        "ended_at",
    )
    fields = readonly_fields
    actions = [end_shares]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # A share is a record of who saw what: it is ended, never deleted.
        return False
