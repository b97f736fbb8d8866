"""Top-level URLs: the admin, Django's login views, and the balances app."""

from typing import Any

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.templatetags.static import static
from django.urls import include, path
from django.views.generic.base import RedirectView

from balances.web.views.health import healthz
from finance.security import password_reset
from finance.security.views import LoginView


class FaviconRedirect(RedirectView):
    """Redirect to the app's icon; its static URL is looked up per request, as the manifest
    of hashed names exists only once `collectstatic` has run (not when URLs are loaded)."""

    permanent = True

    def get_redirect_url(self, *args: Any, **kwargs: Any) -> str:
        return static("favicon.svg")


urlpatterns = [
    path("admin/", admin.site.urls),
    # Load balancers and monitoring: no login, no secrets (balances/selectors/health.py).
    path("healthz/", healthz, name="healthz"),
    # Browsers and the admin ask for /favicon.ico whatever the page says: the app's icon.
    path("favicon.ico", FaviconRedirect.as_view(), name="favicon"),
    path("accounts/", include("finance.security.urls")),
    # Django's login views. Password resets by e-mail only when EMAIL_URL is set (the reset
    # pages answer 404 otherwise); without it an administrator resets a password with
    # `manage.py changepassword`.
    path("accounts/login/", LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path(
        "accounts/password_change/",
        auth_views.PasswordChangeView.as_view(),
        name="password_change",
    ),
    path(
        "accounts/password_change/done/",
        auth_views.PasswordChangeDoneView.as_view(),
        name="password_change_done",
    ),
    path(
        "accounts/password_reset/",
        password_reset.PasswordResetView.as_view(),
        name="password_reset",
    ),
    path(
        "accounts/password_reset/done/",
        password_reset.PasswordResetDoneView.as_view(),
        name="password_reset_done",
    ),
    path(
        "accounts/reset/<uidb64>/<token>/",
        password_reset.PasswordResetConfirmView.as_view(),
        name="password_reset_confirm",
    ),
    path(
        "accounts/reset/done/",
        password_reset.PasswordResetCompleteView.as_view(),
        name="password_reset_complete",
    ),
    path("", include("balances.urls")),
]
