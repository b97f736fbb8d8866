"""Read-only admins of alerts: each alert with its message's delivery state, deliveries
(sent, retrying, failed with the reason). Never a push channel's URL: channels are not in
the admin, and a delivery names its channel by name and service only."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from balances.admin.permissions import StaffViewSuperuserChangeMixin
from balances.models import Alert, AlertDelivery

DELIVERY_FIELDS = (
    "message",
    "target",
    "state",
    "attempts",
    "last_error",
    "next_attempt_at",
    "sent_at",
    "updated_at",
)


class AlertDeliveryInline(StaffViewSuperuserChangeMixin, admin.TabularInline):
    model = AlertDelivery
    fields = DELIVERY_FIELDS[1:]
    readonly_fields = DELIVERY_FIELDS[1:]
    extra = 0
    can_delete = False


@admin.register(Alert)
class AlertAdmin(StaffViewSuperuserChangeMixin, admin.ModelAdmin):
    list_display = ("title", "owner", "created_at", "delivery", "read_at")
    list_filter = ("message__deliveries__state",)
    search_fields = ("title", "owner__username")
    list_select_related = ("owner", "message")
    readonly_fields = (
        "owner",
        "message",
        "key",
        "title",
        "text",
        "link",
        "created_at",
        "read_at",
        "item",
        "account",
        "rule",
    )
    fields = readonly_fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.display(description="Delivery")
    def delivery(self, obj: Alert) -> str:
        states = [f"{d.target}: {d.get_state_display()}" for d in obj.message.deliveries.all()]
        return "; ".join(states) or "Notifications page only"


@admin.register(AlertDelivery)
class AlertDeliveryAdmin(StaffViewSuperuserChangeMixin, admin.ModelAdmin):
    list_display = ("target", "state", "attempts", "last_error", "updated_at")
    list_filter = ("state",)
    search_fields = ("target", "message__owner__username")
    readonly_fields = DELIVERY_FIELDS
    fields = DELIVERY_FIELDS

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False
