"""Error reports (500 e-mails, debug pages) that never carry an access token, in plain
text or encrypted."""

from __future__ import annotations

import re
from typing import Any

from django.http import HttpRequest
from django.views.debug import ExceptionReporter, SafeExceptionReporterFilter

# A Fernet token (balances/crypto.py: what `access_token_encrypted` holds): version byte
# 0x80 and a timestamp under 2**40 s, base64url. Trimmed ones (long values are cut in a
# report) still match.
CIPHERTEXT = re.compile(r"gAAAAA[A-Za-z0-9_\-]{20,}={0,2}")
CIPHERTEXT_SUBSTITUTE = "********************"


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


def scrub_ciphertext(value: Any) -> Any:
    """Return `value` with every Fernet token in its strings replaced.

    Strings, and lists, tuples and dicts of them, are scrubbed; an exception
    becomes its scrubbed text; other objects are returned as they are.
    """
    if isinstance(value, str):
        return CIPHERTEXT.sub(CIPHERTEXT_SUBSTITUTE, value)
    if isinstance(value, BaseException):
        return scrub_ciphertext(str(value))
    if isinstance(value, dict):
        return {k: scrub_ciphertext(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [scrub_ciphertext(v) for v in value]
    return value


class CiphertextSafeExceptionReporter(ExceptionReporter):
    """Django's reporter (with TokenSafeExceptionReporterFilter), plus: no encrypted access
    token anywhere in the report.

    The filter works by name; a ciphertext also travels under other names: the SQL
    parameters of a failed query (`params`), a row's field values, an exception's text.
    Everything the report shows (frame variables as printed, the exception, request data)
    is scrubbed here, after it is rendered to text, for the HTML page and the e-mail alike.
    """

    def get_traceback_data(self) -> dict[str, Any]:
        data = super().get_traceback_data()
        for frame in data.get("frames", []):
            for key in ("vars", "exc_cause"):
                if key in frame:
                    frame[key] = scrub_ciphertext(frame[key])
        for key in ("request_GET_items", "filtered_POST_items", "request_COOKIES_items"):
            if key in data:  # item views or generators of (name, value)
                data[key] = scrub_ciphertext(list(data[key]))
        for key in ("exception_value", "exception_notes", "request_meta", "request_insecure_uri"):
            if key in data:
                data[key] = scrub_ciphertext(data[key])
        return data
