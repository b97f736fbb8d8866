"""List filters of the Items admin: freshness, and what needs an operator's attention."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from balances.models import erroring_q, login_required_q, stale_q


class FreshnessFilter(admin.SimpleListFilter):
    """Items whose last successful refresh is older than BALANCE_STALE_AFTER."""

    title = "freshness"
    parameter_name = "freshness"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("stale", "Stale (or never refreshed)"), ("fresh", "Fresh")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if self.value() == "stale":
            return queryset.filter(stale_q())
        if self.value() == "fresh":
            return queryset.exclude(stale_q())
        return queryset


class AttentionFilter(admin.SimpleListFilter):
    """Items in error, and Items whose owner must log in again (now or before expiry)."""

    title = "needs attention"
    parameter_name = "attention"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [
            ("erroring", "Erroring"),
            ("login", "Needs re-login (or consent expiring)"),
        ]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if self.value() == "erroring":
            return queryset.filter(erroring_q())
        if self.value() == "login":
            return queryset.filter(login_required_q())
        return queryset


class WarningCodeFilter(admin.SimpleListFilter):
    """Items by Plaid's warning (PENDING_EXPIRATION, ...), or with none: each code once, by
    name, never a blank entry for "no warning"."""

    title = "warning code"  # the admin shows "By warning code"
    parameter_name = "warning"
    NONE = "none"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        codes = (
            model_admin.get_queryset(request)
            .exclude(warning_code="")
            .order_by("warning_code")
            .values_list("warning_code", flat=True)
            .distinct()
        )
        return [(self.NONE, "No warning"), *((code, code) for code in codes)]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        value = self.value()
        if value is None:
            return queryset
        return queryset.filter(warning_code="" if value == self.NONE else value)
