"""The web layer: thin views that read through selectors and write through services.

- `dashboard`: the dashboard and "Refresh now".
- `data`: an account's page, CSV and JSON exports, the user's settings.
- `linking`: Plaid Link (link tokens, token exchange, update mode) and unlinking.
- `webhooks`: Plaid's webhook (verified by signature; the one CSRF-exempt view).
- `health`: `/healthz/` for load balancers and monitoring.
"""

from django.contrib.auth.models import User
from django.http import HttpRequest


class AuthenticatedRequest(HttpRequest):
    """A request behind @login_required."""

    user: User
