from django.urls import path

from . import data_views, link_views, views, webhook_views

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("refresh/", views.refresh, name="refresh"),
    path("accounts/<int:pk>/", data_views.account_detail, name="account_detail"),
    path("api/dashboard/", data_views.dashboard_api, name="dashboard_api"),
    path("export/accounts.csv", data_views.export_accounts_csv, name="export_accounts_csv"),
    path("export/history.csv", data_views.export_history_csv, name="export_history_csv"),
    path("settings/", data_views.profile_settings, name="profile_settings"),
    path("plaid/webhook/", webhook_views.plaid_webhook, name="plaid_webhook"),
    path("link/token/", link_views.link_token, name="link_token"),
    path("link/exchange/", link_views.link_exchange, name="link_exchange"),
    path("items/<int:pk>/link-token/", link_views.item_link_token, name="item_link_token"),
    path(
        "items/<int:pk>/reconnected/",
        link_views.item_update_complete,
        name="item_update_complete",
    ),
    path("items/<int:pk>/unlink/", link_views.item_unlink, name="item_unlink"),
]
