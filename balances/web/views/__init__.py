"""The web layer's views: thin, they read through selectors and write through services.

- `dashboard`: the dashboard and "Refresh now".
- `accounts`: an account's page, a type's accounts, every connection.
- `exports`: the dashboard's JSON, accounts and history as CSV.
- `manual_accounts`: accounts and assets entered by hand (add, edit, re-value, delete).
- `profile`: the user's settings.
- `api_tokens`: Settings → API tokens (create one, shown once; list; revoke).
- `households`: Settings → Household (invite, answer, choose accounts, end a share).
- `alerts`: Notifications (read/unread) and Settings → Alerts (choices, rules, push
  channels, test alerts).
- `linking`: Plaid Link (link tokens, token exchange, update mode) and unlinking.
- `keep`: choose which of two connections to one bank (linked twice) to keep.
- `webhooks`: Plaid's webhook (verified by signature; the one CSRF-exempt view).
- `health`: `/healthz/` for load balancers and monitoring.
"""

from django.contrib.auth.models import User
from django.http import HttpRequest


class AuthenticatedRequest(HttpRequest):
    """A request behind @login_required."""

    user: User
