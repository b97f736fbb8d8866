"""`/api/v1/`: the read API, its OpenAPI schema and its documentation page."""

from __future__ import annotations

from typing import Any

from django.urls import path
from drf_spectacular.renderers import (
    OpenApiJsonRenderer,
    OpenApiJsonRenderer2,
    OpenApiYamlRenderer,
    OpenApiYamlRenderer2,
)
from drf_spectacular.views import SpectacularAPIView

from balances.api import docs, views
from balances.api.authentication import BearerTokenAuthentication, SessionAuthentication


class SchemaView(SpectacularAPIView):
    """The OpenAPI 3.1 schema (JSON; `?format=yaml` for YAML), for a token or the session."""

    authentication_classes = [BearerTokenAuthentication, SessionAuthentication]
    # JSON first: the default, and how errors are answered, as on every endpoint.
    renderer_classes = [
        OpenApiJsonRenderer2,
        OpenApiJsonRenderer,
        OpenApiYamlRenderer,
        OpenApiYamlRenderer2,
    ]

    def finalize_response(self, request: Any, response: Any, *args: Any, **kwargs: Any) -> Any:
        response = super().finalize_response(request, response, *args, **kwargs)
        response["Cache-Control"] = "private, no-store"
        return response


urlpatterns = [
    path("net-worth/", views.NetWorthView.as_view(), name="api_net_worth"),
    path("net-worth/history/", views.NetWorthHistoryView.as_view(), name="api_net_worth_history"),
    path("accounts/", views.AccountListView.as_view(), name="api_accounts"),
    path("accounts/<int:pk>/", views.AccountDetailView.as_view(), name="api_account"),
    path(
        "accounts/<int:pk>/history/",
        views.AccountHistoryView.as_view(),
        name="api_account_history",
    ),
    path("connections/", views.ConnectionListView.as_view(), name="api_connections"),
    path(
        "connections/<int:pk>/refresh/",
        views.ConnectionRefreshView.as_view(),
        name="api_connection_refresh",
    ),
    path("manual-accounts/", views.ManualAccountListView.as_view(), name="api_manual_accounts"),
    path(
        "manual-accounts/<int:pk>/",
        views.ManualAccountDetailView.as_view(),
        name="api_manual_account",
    ),
    path("schema/", SchemaView.as_view(), name="api_schema"),
    # A page for people: anonymous visitors go to the login page, not a 401.
    path("docs/", docs.api_docs, name="api_docs"),
]
