from django.urls import include, path

from balances.web.views import (
    accounts,
    api_tokens,
    dashboard,
    exports,
    keep,
    linking,
    manual_accounts,
    profile,
    webhooks,
)

urlpatterns = [
    path("", dashboard.dashboard, name="dashboard"),
    path("refresh/", dashboard.refresh, name="refresh"),
    path("accounts/<int:pk>/", accounts.account_detail, name="account_detail"),
    path("accounts/type/<slug:group>/", accounts.account_group, name="account_group"),
    path("connections/", accounts.connections, name="connections"),
    path("manual/add/", manual_accounts.manual_account_add, name="manual_account_add"),
    path("manual/<int:pk>/edit/", manual_accounts.manual_account_edit, name="manual_account_edit"),
    path(
        "manual/<int:pk>/value/",
        manual_accounts.manual_account_revalue,
        name="manual_account_revalue",
    ),
    path(
        "manual/<int:pk>/delete/",
        manual_accounts.manual_account_delete,
        name="manual_account_delete",
    ),
    path("api/dashboard/", exports.dashboard_api, name="dashboard_api"),
    path("export/accounts.csv", exports.export_accounts_csv, name="export_accounts_csv"),
    path("export/history.csv", exports.export_history_csv, name="export_history_csv"),
    path("settings/", profile.profile_settings, name="profile_settings"),
    path("settings/api-tokens/", api_tokens.api_token_list, name="api_tokens"),
    path(
        "settings/api-tokens/<int:pk>/revoke/",
        api_tokens.api_token_revoke,
        name="api_token_revoke",
    ),
    # The read API (balances/api/): token or session, JSON, documented at api/v1/docs/.
    path("api/v1/", include("balances.api.urls")),
    path("plaid/webhook/", webhooks.plaid_webhook, name="plaid_webhook"),
    path("link/token/", linking.link_token, name="link_token"),
    path("link/exchange/", linking.link_exchange, name="link_exchange"),
    path("link/oauth-return/", linking.link_oauth_return, name="link_oauth_return"),
    path("items/<int:pk>/link-token/", linking.item_link_token, name="item_link_token"),
    path(
        "items/<int:pk>/reconnected/",
        linking.item_update_complete,
        name="item_update_complete",
    ),
    path("items/<int:pk>/unlink/", linking.item_unlink, name="item_unlink"),
    path("items/<int:pk>/keep/", keep.item_keep, name="item_keep"),
]
