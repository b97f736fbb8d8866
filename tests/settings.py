"""Settings for the test suite: the project's settings with throwaway keys and fast hashing.

Keys are generated per run (nothing secret is committed). Subprocesses started by tests
(Celery workers, management commands) inherit them through the environment.
"""

import os

from cryptography.fernet import Fernet

os.environ.setdefault("SECRET_KEY", "test-" + Fernet.generate_key().decode())
os.environ.setdefault("FIELD_ENCRYPTION_KEY", Fernet.generate_key().decode())
os.environ.setdefault("PLAID_CLIENT_ID", "emulator-client-id")
os.environ.setdefault("PLAID_SECRET", "emulator-secret")
# Unit tests never touch a broker; end-to-end tests give their processes a real one.
os.environ.setdefault("CELERY_BROKER_URL", "memory://")
# The test client, live servers and browser tests speak plain HTTP, and most tests sign in
# staff without a second factor. The production defaults of these are tested on their own
# (tests/finance/security/: deploy check in a clean environment, staff 2FA, HTTPS redirect).
os.environ.setdefault("SECURE_SSL_REDIRECT", "false")
os.environ.setdefault("SESSION_COOKIE_SECURE", "false")
os.environ.setdefault("CSRF_COOKIE_SECURE", "false")
os.environ.setdefault("REQUIRE_STAFF_2FA", "false")

from finance.settings import *  # noqa: F403
from finance.settings import DATA_DIR, DATABASES

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# Tests render templates without running collectstatic first; whitenoise serves from the
# finders instead of STATIC_ROOT.
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True
STORAGES = {
    **STORAGES,  # noqa: F405
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

# One test database per pytest process, so parallel runs never clobber each other. For
# SQLite a file, not :memory:, so end-to-end tests can share it with a Celery worker.
_unique = f"{os.getpid()}"
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["TEST"] = {"NAME": str(DATA_DIR / f"test-db-{_unique}.sqlite3")}
else:
    DATABASES["default"]["TEST"] = {"NAME": f"test_{DATABASES['default']['NAME']}_{_unique}"}
