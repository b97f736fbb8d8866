"""Every admin page of the project follows the app's admin rules, third-party ones too,
and the admin's sign-in form checks the username's length (`forms.AdminLoginForm`).

The ModelAdmins of auth, django-axes and django-otp come without
`balances.admin.permissions.AdminGuardsMixin` (actions for superusers only, no lookups
on secret columns such as a password hash or a TOTP key, unusable filter values answered
as Django's "invalid lookup" instead of a 500). `guard_every_model_admin` registers each
again with the mixin in front; `SecurityConfig.ready` runs it once admin autodiscovery
has registered every app's admin (django.contrib.admin comes first in INSTALLED_APPS),
through `guard_admin_site`.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin


def guard_admin_site(site: admin.AdminSite | None = None) -> None:
    """Guard every ModelAdmin of `site` (default: the admin) and its sign-in form."""
    from .forms import AdminLoginForm

    site = site or admin.site
    guard_every_model_admin(site)
    site.login_form = AdminLoginForm


def guard_every_model_admin(site: admin.AdminSite | None = None) -> list[str]:
    """Re-register every ModelAdmin of `site` lacking AdminGuardsMixin with it in front.

    Return the labels of the models re-registered.
    """
    from balances.admin.permissions import AdminGuardsMixin

    site = site or admin.site
    guarded: list[str] = []
    for model, model_admin in list(site._registry.items()):
        admin_class: Any = type(model_admin)
        if issubclass(admin_class, AdminGuardsMixin):
            continue
        site.unregister(model)
        site.register(
            model,
            type(
                admin_class.__name__,
                (AdminGuardsMixin, admin_class),
                {"__module__": admin_class.__module__},
            ),
        )
        guarded.append(model._meta.label)
    return guarded
