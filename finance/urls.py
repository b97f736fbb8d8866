"""Top-level URLs: the admin, Django's login views, and the balances app."""

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from balances.web.views.health import healthz
from finance.security.views import LoginView

urlpatterns = [
    path("admin/", admin.site.urls),
    # Load balancers and monitoring: no login, no secrets (balances/selectors/health.py).
    path("healthz/", healthz, name="healthz"),
    path("accounts/", include("finance.security.urls")),
    # Django's login views, without e-mailed password resets: a self-hosted app has no mail
    # server by default; an administrator resets a password with `manage.py changepassword`.
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
    path("", include("balances.urls")),
]
