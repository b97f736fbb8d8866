"""Error reports (500 e-mails, debug pages) that never carry an access token."""

from __future__ import annotations

import re
from typing import Any

from django.http import HttpRequest
from django.views.debug import SafeExceptionReporterFilter


class TokenSafeExceptionReporterFilter(SafeExceptionReporterFilter):
    """Django's filter, plus: hide every frame variable named like a secret, and every
    plaid SDK object (its request models hold the access token in their repr).

    Django already hides settings named like secrets and, with `sensitive_variables`,
    chosen locals; this covers locals such as `access_token` everywhere without
    decorating every function that touches one.
    """

    hidden_settings = re.compile(
        "API|TOKEN|KEY|SECRET|PASS|SIGNATURE|HTTP_COOKIE|ENCRYPT", flags=re.IGNORECASE
    )

    def get_traceback_frame_variables(self, request: HttpRequest | None, tb_frame: Any) -> Any:
        variables = super().get_traceback_frame_variables(request, tb_frame)
        return {
            name: self.cleansed_substitute if self._is_secret(name, value) else value
            for name, value in variables
        }.items()

    def _is_secret(self, name: str, value: Any) -> bool:
        if self.hidden_settings.search(name):
            return True
        module = type(value).__module__ or ""
        return module == "plaid" or module.startswith("plaid.")
