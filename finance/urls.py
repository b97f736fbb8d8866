"""Top-level URLs: the admin, Django's login views, and the balances app."""

from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/", include("security.urls")),
    path("accounts/", include("django.contrib.auth.urls")),
    path("", include("balances.urls")),
]
