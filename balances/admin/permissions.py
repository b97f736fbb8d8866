"""Admin permissions for bank data: every staff member may look, only superusers act.

`AdminGuardsMixin` is on every ModelAdmin of the site (the project's admin site adds it to
third-party ones too): actions (they spend Plaid calls or change data) are offered to, and
run for, superusers only; no lookup may name a secret column (an oracle on its value);
list pages turn unusable filter values into Django's "invalid lookup" answer, and an
empty `?_to_field=` is a 400.
`StaffViewSuperuserChangeMixin` adds: staff see without a model permission, only
superusers change or delete.
"""

from __future__ import annotations

import re
from typing import Any

from django.contrib.admin.exceptions import DisallowedModelAdminToField
from django.contrib.admin.views.main import ChangeList
from django.db.models.constants import LOOKUP_SEP
from django.http import HttpRequest

from balances.admin.changelist import SafeChangeList

# Columns holding a secret or something derived from one: `access_token_encrypted`, API
# tokens' `token_hash`, a user's `password`, a TOTP device's `key`.
SECRET_FIELD = re.compile(r"(^|_)(encrypted|token|secret|password|key)(_|$)", re.IGNORECASE)


def _is_staff(request: HttpRequest) -> bool:
    return bool(request.user.is_active and request.user.is_staff)


def _is_superuser(request: HttpRequest) -> bool:
    return bool(request.user.is_active and request.user.is_superuser)


def is_secret_lookup(lookup: str) -> bool:
    """Return whether any part of the lookup path (`a__b__startswith`) names a secret."""
    return any(SECRET_FIELD.search(part) for part in lookup.split(LOOKUP_SEP))


class AdminGuardsMixin:
    """Actions for superusers only, no lookups on secrets, invalid filters as a 4xx."""

    def has_act_permission(self, request: HttpRequest) -> bool:
        """Whether `request.user` may run admin actions: superusers only (staff look)."""
        return _is_superuser(request)

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        # Not offered is not runnable: the admin runs only actions this returns.
        if not self.has_act_permission(request):
            return {}
        actions: dict[str, Any] = super().get_actions(request)  # type: ignore[misc]
        return actions

    def lookup_allowed(self, lookup: str, value: str, request: HttpRequest | None = None) -> bool:
        if is_secret_lookup(lookup):
            return False
        allowed: bool = super().lookup_allowed(lookup, value, request)  # type: ignore[misc]
        return allowed

    def get_changelist(self, request: HttpRequest, **kwargs: Any) -> type[ChangeList]:
        return SafeChangeList

    def get_object(
        self, request: HttpRequest, object_id: str, from_field: str | None = None
    ) -> Any:
        # Django checks `?_to_field=` only when it is not empty; empty, it named no field
        # and the page was a 500.
        if from_field is not None and not from_field:
            raise DisallowedModelAdminToField("The field '' cannot be referenced.")
        return super().get_object(request, object_id, from_field)  # type: ignore[misc]


class StaffViewSuperuserChangeMixin(AdminGuardsMixin):
    """Staff see these objects without a model permission; only superusers change or delete."""

    def has_module_permission(self, request: HttpRequest) -> bool:
        return _is_staff(request)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return _is_staff(request)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return _is_superuser(request)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return _is_superuser(request)
