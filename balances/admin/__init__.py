"""The Django admin for staff: Items (`items`), what refreshes write (`records`), users with
their Items (`users`), operator actions (`actions`), list filters and permissions.

Staff may view; only superusers change or remove (`permissions`). Imports services,
selectors and models; never the Plaid client. Importing this package registers the admins.
"""

from balances.admin import items, records, users

__all__ = ["items", "records", "users"]
