"""System checks: stored access tokens must open with FIELD_ENCRYPTION_KEY.

Runs with `check`, `runserver` and `migrate`; wsgi.py, asgi.py and the Celery worker run
`verify_encryption_keys()` at start-up too (they run no system checks).
"""

from __future__ import annotations

from typing import Any

from django.core.checks import CheckMessage, Error, register
from django.core.exceptions import ImproperlyConfigured

from balances.services.encryption import undecryptable_item_ids

HINT = (
    "FIELD_ENCRYPTION_KEY must hold the key these tokens were encrypted with (comma-separated "
    "keys: the first encrypts, all decrypt). Restore the old key, or relink these Items."
)


def _message(ids: list[int]) -> str:
    shown = ", ".join(str(pk) for pk in ids)
    return (
        "Stored Plaid access tokens cannot be decrypted with FIELD_ENCRYPTION_KEY "
        f"(PlaidItem ids {shown}{', ...' if len(ids) >= 10 else ''})."
    )


@register("security")
def check_encryption_keys(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """Report stored tokens that no configured key decrypts (skipped before migrations)."""
    ids = undecryptable_item_ids(limit=10)
    if not ids:
        return []
    return [Error(_message(ids), hint=HINT, id="security.E001")]


# Start-up samples the newest tokens (a wrong key fails every one of them); the system check
# (`manage.py check`, `migrate`) looks at all of them.
STARTUP_SAMPLE = 200


def verify_encryption_keys() -> None:
    """Raise ImproperlyConfigured when a stored token cannot be decrypted."""
    ids = undecryptable_item_ids(limit=10, scan=STARTUP_SAMPLE)
    if ids:
        raise ImproperlyConfigured(f"{_message(ids)} {HINT}")
