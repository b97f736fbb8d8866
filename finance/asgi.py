"""ASGI entry point."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "finance.settings")

application = get_asgi_application()

# Refuse to serve when stored access tokens cannot be decrypted (a wrong
# FIELD_ENCRYPTION_KEY): decrypts a sample of the newest tokens, once per process start.
from finance.security.checks import verify_encryption_keys  # noqa: E402

verify_encryption_keys()
