"""The Django admin for staff: Items (`items`), what refreshes write (`records`), users with
their Items (`users`), household shares (`households`), alerts and their deliveries
(`alerts`), operator actions (`actions`), list filters and permissions.

Staff may view; only superusers change or remove (`permissions`). Imports services,
selectors and models; never the Plaid client. Importing this package registers the admins.
"""

from django.contrib import admin

from balances.admin import alerts, households, items, records, users

# The app list beside every page took 300 px of a 1366 px laptop screen and cut the Items
# list's columns; the breadcrumbs and the index lead to every model instead.
admin.site.enable_nav_sidebar = False

__all__ = ["alerts", "households", "items", "records", "users"]
