"""Password reset by e-mail: Django's views, offered only when EMAIL_URL is set, and
throttled (PASSWORD_RESET_PER_HOUR mails per address and per client, counted in the
shared state like the API's requests).

Without EMAIL_URL the pages answer 404 and the login page says to ask an administrator
(`manage.py changepassword`). The mail's link is absolute, from SITE_URL, never from the
request's Host header (which a visitor chooses).
"""

from __future__ import annotations

import hashlib
import logging
from typing import Any

from django.conf import settings
from django.contrib.auth import views as auth_views
from django.http import Http404, HttpRequest, HttpResponse
from django.urls import reverse_lazy

from balances.shared_state import api as shared_state
from finance.security.client_ip import client_ip

logger = logging.getLogger(__name__)

HOUR = 3600.0
THROTTLED = "Too many password-reset requests. Wait an hour, or ask the person who runs this site."


class _EmailRequired:
    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not settings.EMAIL_CONFIGURED:
            raise Http404("This server sends no e-mail: ask an administrator to reset it.")
        return super().dispatch(request, *args, **kwargs)  # type: ignore[misc]


def _allowed(kind: str, value: str) -> bool:
    digest = hashlib.sha256(f"{kind}:{value}".encode()).hexdigest()[:32]
    try:
        wait = shared_state.api_request_wait(
            f"password-reset:{digest}", limit=settings.PASSWORD_RESET_PER_HOUR, window=HOUR
        )
    except shared_state.SharedStateUnavailable:
        logger.warning("Password reset not throttled: the shared state is unreachable")
        return True
    return wait <= 0


class PasswordResetView(_EmailRequired, auth_views.PasswordResetView):
    template_name = "registration/password_reset_form.html"
    email_template_name = "registration/password_reset_email.txt"
    html_email_template_name = "registration/password_reset_email.html"
    subject_template_name = "registration/password_reset_subject.txt"
    success_url = reverse_lazy("password_reset_done")

    @property
    def extra_email_context(self) -> dict[str, str]:  # type: ignore[override]
        return {"site_url": settings.SITE_URL}

    def form_valid(self, form: Any) -> HttpResponse:
        address = form.cleaned_data["email"].strip().lower()
        # Both counted, whichever refuses: one client cannot mail many addresses, many
        # clients cannot flood one inbox.
        by_client = _allowed("client", client_ip(self.request))
        by_address = _allowed("address", address)
        if not (by_client and by_address):
            form.add_error(None, THROTTLED)
            response = self.form_invalid(form)
            response.status_code = 429
            return response
        return super().form_valid(form)


class PasswordResetDoneView(_EmailRequired, auth_views.PasswordResetDoneView):
    template_name = "registration/password_reset_done.html"


class PasswordResetConfirmView(_EmailRequired, auth_views.PasswordResetConfirmView):
    template_name = "registration/password_reset_confirm.html"
    success_url = reverse_lazy("password_reset_complete")


class PasswordResetCompleteView(_EmailRequired, auth_views.PasswordResetCompleteView):
    template_name = "registration/password_reset_complete.html"
