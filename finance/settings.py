"""Settings, read from the environment through django-environ.

A `.env` file beside manage.py is read when present; real environment variables win.
Every variable is documented in `.env.example`.
"""

import re
from datetime import timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path

import environ
from cryptography.fernet import Fernet
from django.core.exceptions import ImproperlyConfigured

from finance.plaid_redirect import check_redirect_uri
from finance.security.csp import content_security_policy

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
# read_env never overrides variables already set in the real environment.
environ.Env.read_env(BASE_DIR / ".env")

DEBUG = env.bool("DEBUG", default=False)

SECRET_KEY = env.str("SECRET_KEY", default="")
if not SECRET_KEY:
    raise ImproperlyConfigured(
        "SECRET_KEY is not set. Put it in the environment or in .env "
        "(`make run` writes a .env with fresh keys; see .env.example)."
    )

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

# Local state: the default SQLite database, Celery's file broker and beat schedule,
# the offline emulator's state. Ignored by git.
# Empty (as in a copied .env.example) means the default, like every path and URL here.
DATA_DIR = Path(env.str("DATA_DIR", default="") or BASE_DIR / "var")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_otp",
    "django_otp.plugins.otp_totp",
    # Recovery codes: single-use static tokens (finance/security/services.py).
    "django_otp.plugins.otp_static",
    "axes",
    "csp",
    "rest_framework",
    "drf_spectacular",
    "balances",
    "finance.security",
]

MIDDLEWARE = [
    "finance.logs.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    # The signed-in user's time zone (Settings) for everything shown, the admin included.
    "balances.web.time_zones.TimeZoneMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "finance.security.middleware.TwoFactorMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes requires: it turns a lockout into the lockout response.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "finance.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
            # The app's tags live in its web layer (balances/web/templatetags/).
            "libraries": {
                name: f"balances.web.templatetags.{name}"
                for name in ("alerts", "connections", "figures", "money")
            },
        },
    },
]

WSGI_APPLICATION = "finance.wsgi.application"

# --- Database -------------------------------------------------------------------------
_default_db = f"sqlite:///{DATA_DIR / 'db.sqlite3'}"
DATABASES = {"default": env.db_url_config(env.str("DATABASE_URL", default="") or _default_db)}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    if DATABASES["default"]["NAME"] != ":memory:":
        Path(DATABASES["default"]["NAME"]).parent.mkdir(parents=True, exist_ok=True)
    # Web, worker and beat write concurrently: WAL lets readers run beside a writer,
    # IMMEDIATE takes the write lock up front instead of failing on upgrade.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "timeout": 20,
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    )

# PostgreSQL: a pool of at most DATABASE_POOL_SIZE connections per process (psycopg_pool),
# shared by its threads; 0 = none. A refresh gives its connection back while Plaid answers
# (seconds), so a worker of ~100 threads needs about 10-20, not one per thread (PostgreSQL
# allows 100 by default). Instead of `conn_max_age` in DATABASE_URL, not with it.
DATABASE_POOL_SIZE = env.int("DATABASE_POOL_SIZE", default=0)
if DATABASE_POOL_SIZE < 0:
    raise ImproperlyConfigured("DATABASE_POOL_SIZE must be 0 (no pool) or more connections.")
if DATABASE_POOL_SIZE and DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    if DATABASES["default"].get("CONN_MAX_AGE"):
        raise ImproperlyConfigured(
            "DATABASE_POOL_SIZE and conn_max_age in DATABASE_URL exclude each other: "
            "the pool keeps the connections."
        )
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
        "min_size": 1,
        "max_size": DATABASE_POOL_SIZE,
        # A thread waits at most this long for a free connection, then the task fails
        # like any database outage (retried).
        "timeout": 30,
    }

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 12},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "dashboard"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = env.str("TIME_ZONE", default="UTC")
# Dates and times name their zone (finance/formats/en/formats.py): each user has their own.
FORMAT_MODULE_PATH = ["finance.formats"]
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
# Where `collectstatic` writes the files whitenoise serves.
STATIC_ROOT = Path(env.str("STATIC_ROOT", default="") or BASE_DIR / "staticfiles")
# whitenoise serves `collectstatic`'s output from a hashed, compressed manifest (cacheable
# forever); in development runserver serves the files as they are.
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "finance.storage.StaticFilesStorage"
    },
}

# --- Security: cookies, HTTPS, headers, login throttling, two-factor sign-in ------------
# Production defaults follow DEBUG: with DEBUG off every one is on, and
# `manage.py check --deploy` reports nothing (tests/finance/security/test_deploy_check.py).
# Django's database sessions, read with one plain SELECT (finance/security/sessions.py).
SESSION_ENGINE = "finance.security.sessions"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=not DEBUG)
# A signed-in session lasts this many seconds (default 12 hours).
SESSION_COOKIE_AGE = env.int("SESSION_COOKIE_AGE", default=12 * 3600)
CSRF_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_HTTPONLY = True
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=not DEBUG)
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=not DEBUG)
# Load balancers probe /healthz/ over plain HTTP on the private network: never redirect it.
SECURE_REDIRECT_EXEMPT = [r"^healthz/?$"]
# Behind a TLS-terminating proxy: "HTTP_X_FORWARDED_PROTO,https" (the header the proxy
# sets, and its value for HTTPS). Only when the proxy overwrites that header on every request.
_proxy_ssl_header = env.list("SECURE_PROXY_SSL_HEADER", default=[])
if _proxy_ssl_header and len(_proxy_ssl_header) != 2:
    raise ImproperlyConfigured(
        "SECURE_PROXY_SSL_HEADER must be two comma-separated values, e.g. "
        "HTTP_X_FORWARDED_PROTO,https"
    )
SECURE_PROXY_SSL_HEADER = tuple(_proxy_ssl_header) if _proxy_ssl_header else None
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=not DEBUG)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=not DEBUG)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
# Plaid Link may open a bank's OAuth page in a pop-up: keep the opener for pop-ups only.
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin-allow-popups"
X_FRAME_OPTIONS = "DENY"
# Error reports hide locals named like secrets (access_token, ...) and plaid SDK objects,
# and any encrypted access token wherever it appears (SQL parameters, exception text).
DEFAULT_EXCEPTION_REPORTER_FILTER = "finance.security.reporting.TokenSafeExceptionReporterFilter"
DEFAULT_EXCEPTION_REPORTER = "finance.security.reporting.CiphertextSafeExceptionReporter"

# django-axes: lock out an account after AXES_FAILURE_LIMIT failed logins, and separately
# an address after as many failures, for AXES_COOLOFF_MINUTES. Locked-out attempts get 429.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    # Django's ModelBackend, reading whether two-factor is on with the user (one query).
    "finance.security.backends.UserBackend",
]
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("AXES_COOLOFF_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "finance.security.lockout.lockout_response"
AXES_CLIENT_IP_CALLABLE = "finance.security.client_ip.client_ip"
# Proxies in front of the app that append to X-Forwarded-For (0: use the connection's address).
TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=0)

# Two-factor sign-in (TOTP, django-otp): optional for everyone, mandatory for staff (and so
# for the admin) while REQUIRE_STAFF_2FA is on.
REQUIRE_STAFF_2FA = env.bool("REQUIRE_STAFF_2FA", default=not DEBUG)
OTP_TOTP_ISSUER = env.str("OTP_TOTP_ISSUER", default="Balances")
# The admin never shows a user's TOTP secret (or its QR code) once the device exists.
OTP_ADMIN_HIDE_SENSITIVE_DATA = True

# --- Access tokens at rest ------------------------------------------------------------
# Comma-separated Fernet keys: the first encrypts, every one decrypts (rotation).
FIELD_ENCRYPTION_KEYS = env.list("FIELD_ENCRYPTION_KEY", default=[])
if not FIELD_ENCRYPTION_KEYS:
    raise ImproperlyConfigured(
        "FIELD_ENCRYPTION_KEY is not set: Plaid access tokens cannot be stored. Generate one "
        "with `python -c 'from cryptography.fernet import Fernet; "
        "print(Fernet.generate_key().decode())'`."
    )
for _key in FIELD_ENCRYPTION_KEYS:
    try:
        Fernet(_key)
    except ValueError as _exc:
        raise ImproperlyConfigured(
            "FIELD_ENCRYPTION_KEY holds a value that is not a Fernet key "
            "(32 url-safe base64-encoded bytes)."
        ) from _exc

# --- Plaid ----------------------------------------------------------------------------
PLAID_CLIENT_ID = env.str("PLAID_CLIENT_ID", default="")
PLAID_SECRET = env.str("PLAID_SECRET", default="")
PLAID_ENV = env.str("PLAID_ENV", default="sandbox")
if PLAID_ENV not in ("sandbox", "production"):
    raise ImproperlyConfigured(f"PLAID_ENV must be 'sandbox' or 'production', not {PLAID_ENV!r}.")
PLAID_HOST = env.str("PLAID_HOST", default="")
# (connect, read) seconds. /accounts/balance/get is real time: usually < 10 s, sometimes 30 s+.
PLAID_TIMEOUT = (
    env.float("PLAID_CONNECT_TIMEOUT", default=5.0),
    env.float("PLAID_READ_TIMEOUT", default=60.0),
)
# Keep-alive connections to Plaid kept per worker process; at least the worker's thread
# count (CELERY_CONCURRENCY), or threads beyond it reconnect on every call (and log it).
PLAID_CONNECTION_POOL_SIZE = env.int("PLAID_CONNECTION_POOL_SIZE", default=128)
PLAID_COUNTRY_CODES = env.list("PLAID_COUNTRY_CODES", default=["US"])
PLAID_PRODUCTS = env.list("PLAID_PRODUCTS", default=["transactions"])
# Plaid Link's browser script: Plaid's CDN, or the offline emulator's stand-in.
PLAID_LINK_SCRIPT_URL = env.str(
    "PLAID_LINK_SCRIPT_URL", default="https://cdn.plaid.com/link/v2/stable/link-initialize.js"
)
# Content-Security-Policy (django-csp): our own static files, plus Plaid Link's origins
# derived from PLAID_LINK_SCRIPT_URL (see finance/security/csp.py).
try:
    CONTENT_SECURITY_POLICY = {
        "DIRECTIVES": content_security_policy(link_script_url=PLAID_LINK_SCRIPT_URL)
    }
except ValueError as _exc:
    raise ImproperlyConfigured(str(_exc)) from _exc
# Shown to the user inside Plaid Link ("<client name> uses Plaid to connect your account").
PLAID_CLIENT_NAME = env.str("PLAID_CLIENT_NAME", default="Balances")
# Language of Plaid Link's screens (Plaid's codes: en, fr, es, nl, de, ...).
PLAID_LINK_LANGUAGE = env.str("PLAID_LINK_LANGUAGE", default="en")
# Public URL Plaid POSTs Item webhooks to; empty = no webhooks for newly linked Items.
PLAID_WEBHOOK_URL = env.str("PLAID_WEBHOOK_URL", default="")
# Where OAuth banks send the browser back (https://<your host>/link/oauth-return/), sent as
# every link token's redirect_uri; empty = no redirect flow (Link uses a pop-up for OAuth).
# Plaid accepts only URIs registered in its dashboard, https except http://localhost in
# sandbox.
PLAID_REDIRECT_URI = env.str("PLAID_REDIRECT_URI", default="")
try:
    check_redirect_uri(PLAID_REDIRECT_URI, plaid_env=PLAID_ENV)
except ValueError as _exc:
    raise ImproperlyConfigured(str(_exc)) from _exc
# What a webhook signed with a key id we do not hold may cost (anyone can send one): one key
# fetch in flight for all processes, at most this many per minute, each given this many
# seconds (connect and read); a key id Plaid calls unknown is not asked again for this long.
PLAID_WEBHOOK_KEY_FETCHES_PER_MINUTE = env.int("PLAID_WEBHOOK_KEY_FETCHES_PER_MINUTE", default=5)
PLAID_WEBHOOK_KEY_TIMEOUT = env.float("PLAID_WEBHOOK_KEY_TIMEOUT", default=5.0)
PLAID_WEBHOOK_UNKNOWN_KEY_TTL = env.int("PLAID_WEBHOOK_UNKNOWN_KEY_TTL", default=300)

# --- The read API (balances/api/) ----------------------------------------------------
# Requests per token (a signed-in browser: per session), as "<count>/<s|min|hour|day>";
# beyond it 429 with Retry-After. Counted in the shared state, like Plaid's limits.
API_THROTTLE_RATE = env.str("API_THROTTLE_RATE", default="120/min")
if not re.fullmatch(
    r"\s*[1-9]\d*\s*/\s*(s|sec|second|m|min|minute|h|hour|d|day)\s*", API_THROTTLE_RATE
):
    raise ImproperlyConfigured(
        f"API_THROTTLE_RATE must look like 120/min (or /s, /hour, /day), not {API_THROTTLE_RATE!r}."
    )
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "balances.api.authentication.BearerTokenAuthentication",
        # A signed-in browser; writes need its CSRF token, as every form of the site.
        "balances.api.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": [
        "rest_framework.permissions.IsAuthenticated",
        "balances.api.permissions.TokenScope",
    ],
    "DEFAULT_THROTTLE_CLASSES": ["balances.api.throttling.TokenRateThrottle"],
    # JSON only: no browsable API (its pages would need inline script).
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    # Form parsers too: the session's CSRF check reads a form POST's csrfmiddlewaretoken.
    "DEFAULT_PARSER_CLASSES": [
        "rest_framework.parsers.JSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "balances.api.errors.exception_handler",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Balances API",
    "DESCRIPTION": (
        "Net worth, accounts and bank connections of the signed-in user, as JSON. "
        "Authenticate with a personal access token from Settings → API tokens "
        "(`Authorization: Bearer <token>`). Amounts are exact decimal strings, null when "
        "the bank reports none. Requests are limited per token (API_THROTTLE_RATE, "
        "120 a minute by default): beyond it 429 with Retry-After."
    ),
    "VERSION": "1",
    "OAS_VERSION": "3.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
    "SCHEMA_PATH_PREFIX": "/api/v1",
    "COMPONENT_SPLIT_REQUEST": True,
}

# --- Celery ---------------------------------------------------------------------------
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="redis://127.0.0.1:6379/0")
if CELERY_BROKER_URL.startswith("filesystem://"):
    # Fallback broker for machines without Redis: messages are files under DATA_DIR.
    _broker_dir = DATA_DIR / "celery-broker"
    for _sub in ("queue", "processed", "control"):
        (_broker_dir / _sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "processed_folder": str(_broker_dir / "processed"),
        # Exchange tables (broadcast/control messages); kombu's default is ./control.
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
    }
else:
    # A task not acknowledged within this time (its worker died) is delivered again.
    _visibility_timeout = env.int("CELERY_VISIBILITY_TIMEOUT", default=3600)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "visibility_timeout": _visibility_timeout,
        # Put before every Redis key of the broker (its queues, its record of the tasks
        # taken and not yet acknowledged). kombu keeps one such record per Redis database,
        # and every worker delivers again the tasks in it older than its own visibility
        # timeout: two installs (or test runs) sharing a database without prefixes of their
        # own would each deliver again tasks the other's workers are still running.
        "global_keyprefix": env.str("CELERY_BROKER_KEY_PREFIX", default=""),
        # Workers look for such tasks every few seconds (one small Redis query each).
        "unacked_restore_interval": max(1, min(10, _visibility_timeout // 3)),
        "unacked_restore_throttle": 1,
    }
CELERY_TASK_DEFAULT_QUEUE = env.str("CELERY_TASK_DEFAULT_QUEUE", default="celery")
CELERY_TASK_IGNORE_RESULT = True
# A task is acknowledged when it ends, not when it starts: one whose worker dies is
# delivered again (CELERY_VISIBILITY_TIMEOUT). One that fails is acknowledged (never
# redelivered in a loop); a failed refresh ends its Item's pending mark itself
# (balances/services/refresh.py). balances/tasks.py states the same on its tasks.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_TASK_ACKS_ON_FAILURE_OR_TIMEOUT = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Seconds a worker thread may hold Python's GIL while others wait (the default is 5 ms):
# short, so threads woken by Plaid's, PostgreSQL's or Redis's replies go on at once.
CELERY_WORKER_SWITCH_INTERVAL = env.float("CELERY_WORKER_SWITCH_INTERVAL", default=0.0005)
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Publishing from a web request must fail fast when the broker is down.
CELERY_BROKER_CONNECTION_TIMEOUT = 3
CELERY_TASK_PUBLISH_RETRY_POLICY = {
    "max_retries": 2,
    "interval_start": 0,
    "interval_step": 0.5,
    "interval_max": 1,
}
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_BEAT_SCHEDULE_FILENAME = str(DATA_DIR / "celerybeat-schedule")
# Beat cannot create its schedule file in a missing directory (a fresh checkout whose
# database is PostgreSQL has no var/ yet).
DATA_DIR.mkdir(parents=True, exist_ok=True)

# Seconds between scheduled refreshes of every active Item. Each /accounts/balance/get
# call is billed in production: one call per Item per interval.
BALANCE_REFRESH_INTERVAL = env.int("BALANCE_REFRESH_INTERVAL", default=3600)
# Balances older than this many seconds are shown as stale.
BALANCE_STALE_AFTER = env.int("BALANCE_STALE_AFTER", default=2 * BALANCE_REFRESH_INTERVAL)
# What the dashboard lists, so the page costs the same for 5 accounts as for 1,000: each
# type's largest accounts (totals count them all; a link lists the rest) and every
# connection needing attention, filled up to this many with up-to-date ones.
DASHBOARD_ACCOUNTS_PER_GROUP = env.int("DASHBOARD_ACCOUNTS_PER_GROUP", default=20)
DASHBOARD_CONNECTIONS_SHOWN = env.int("DASHBOARD_CONNECTIONS_SHOWN", default=20)
# /healthz answers 503 when beat's fan-out has not run for this many seconds.
BEAT_OVERDUE_AFTER = env.int("BEAT_OVERDUE_AFTER", default=3 * BALANCE_REFRESH_INTERVAL)
# Retries of a refresh that failed with a transient error (Plaid's outage, rate limit or
# timeout; Redis or the database unreachable), counted together.
BALANCE_REFRESH_MAX_RETRIES = env.int("BALANCE_REFRESH_MAX_RETRIES", default=5)
# Exponential backoff between those retries: base * 2**n seconds, capped, with jitter.
BALANCE_RETRY_BASE_SECONDS = env.float("BALANCE_RETRY_BASE_SECONDS", default=30.0)
BALANCE_RETRY_CAP_SECONDS = env.float("BALANCE_RETRY_CAP_SECONDS", default=1800.0)
# Which Plaid endpoint scheduled (beat) refreshes use: "cached" (/accounts/get, no
# per-call fee; Plaid's balances, refreshed by Plaid about daily or when new transactions
# arrive) or "realtime" (/accounts/balance/get, billed per call: one call per Item per
# interval, opt-in). Real time regardless: "Refresh now", after linking or repairing, on
# Plaid's DEFAULT_UPDATE / SYNC_UPDATES_AVAILABLE webhooks, and when a user opens the
# dashboard with balances older than BALANCE_REFRESH_ON_OPEN_AFTER (README, "Plaid costs").
BALANCE_SCHEDULED_SOURCE = env.str("BALANCE_SCHEDULED_SOURCE", default="cached")
if BALANCE_SCHEDULED_SOURCE not in ("realtime", "cached"):
    raise ImproperlyConfigured("BALANCE_SCHEDULED_SOURCE must be 'realtime' or 'cached'.")
# Opening the dashboard with an Item's balances older than this many seconds queues one
# real-time refresh of it (at most one per BALANCE_REFRESH_NOW_INTERVAL); 0 = never.
BALANCE_REFRESH_ON_OPEN_AFTER = env.int("BALANCE_REFRESH_ON_OPEN_AFTER", default=4 * 3600)
if BALANCE_REFRESH_ON_OPEN_AFTER < 0:
    raise ImproperlyConfigured("BALANCE_REFRESH_ON_OPEN_AFTER must be 0 (never) or more seconds.")
# What one billed call (/accounts/balance/get) costs, a decimal in your Plaid currency
# (from your Plaid contract; no default is claimed): unset = no estimated bill is shown.
_price = env.str("PLAID_BALANCE_PRICE", default="").strip()
try:
    PLAID_BALANCE_PRICE: Decimal | None = Decimal(_price) if _price else None
except InvalidOperation as _exc:
    raise ImproperlyConfigured(f"PLAID_BALANCE_PRICE must be a decimal, not {_price!r}.") from _exc
if PLAID_BALANCE_PRICE is not None and not (
    PLAID_BALANCE_PRICE.is_finite() and PLAID_BALANCE_PRICE >= 0
):
    raise ImproperlyConfigured("PLAID_BALANCE_PRICE must be a decimal of 0 or more.")
# Billed calls a month for the whole deployment; unset = no cap. Once reached, every
# refresh uses the free cached endpoint until the month ends, except "Refresh now", which
# stays real time up to PLAID_BALANCE_REFRESH_NOW_DAILY_CAP billed calls per user per day.
_budget = env.str("PLAID_BALANCE_MONTHLY_BUDGET", default="").strip()
if _budget and not _budget.isdigit():
    raise ImproperlyConfigured(
        f"PLAID_BALANCE_MONTHLY_BUDGET must be a whole number of calls, not {_budget!r}."
    )
PLAID_BALANCE_MONTHLY_BUDGET: int | None = int(_budget) if _budget else None
PLAID_BALANCE_REFRESH_NOW_DAILY_CAP = env.int("PLAID_BALANCE_REFRESH_NOW_DAILY_CAP", default=20)
if PLAID_BALANCE_REFRESH_NOW_DAILY_CAP < 0:
    raise ImproperlyConfigured("PLAID_BALANCE_REFRESH_NOW_DAILY_CAP must be 0 or more.")
# "Refresh now": at most one on-demand refresh per Item per this many seconds.
BALANCE_REFRESH_NOW_INTERVAL = env.int("BALANCE_REFRESH_NOW_INTERVAL", default=300)
# Plaid's per-minute rate limits, enforced before Plaid has to (production values from Plaid's
# docs, https://plaid.com/docs/errors/rate-limit-exceeded/; they drift: settings, not constants).
PLAID_BALANCE_GET_PER_ITEM_PER_MINUTE = env.int("PLAID_BALANCE_GET_PER_ITEM_PER_MINUTE", default=5)
PLAID_BALANCE_GET_PER_CLIENT_PER_MINUTE = env.int(
    "PLAID_BALANCE_GET_PER_CLIENT_PER_MINUTE", default=100 if PLAID_ENV == "sandbox" else 1200
)
PLAID_ACCOUNTS_GET_PER_ITEM_PER_MINUTE = env.int(
    "PLAID_ACCOUNTS_GET_PER_ITEM_PER_MINUTE", default=15
)
PLAID_ACCOUNTS_GET_PER_CLIENT_PER_MINUTE = env.int(
    "PLAID_ACCOUNTS_GET_PER_CLIENT_PER_MINUTE", default=5000 if PLAID_ENV == "sandbox" else 15000
)
# Capital One gives no real-time balance for cards: a balance call for them accepts one
# Plaid last updated at most this many hours ago (`options.min_last_updated_datetime`).
PLAID_MIN_LAST_UPDATED_HOURS = env.float("PLAID_MIN_LAST_UPDATED_HOURS", default=24.0)
if not PLAID_MIN_LAST_UPDATED_HOURS > 0:
    raise ImproperlyConfigured("PLAID_MIN_LAST_UPDATED_HOURS must be a positive number of hours.")
# Shared state of throttles, de-duplication and per-Item locks, for every web and worker
# process on every machine. Unset or empty: the broker when it is Redis; otherwise (the
# file broker of `make run` without Redis) a lock-protected file under DATA_DIR, correct
# for the processes of one machine only.
THROTTLE_REDIS_URL = env.str("THROTTLE_REDIS_URL", default="") or (
    CELERY_BROKER_URL if CELERY_BROKER_URL.startswith(("redis://", "rediss://")) else ""
)
THROTTLE_KEY_PREFIX = env.str("THROTTLE_KEY_PREFIX", default="balances")
THROTTLE_FILE_PATH = DATA_DIR / "throttle-state.json"
# A refresh holds its Item's lock at most this long; a lock whose holder died expires then.
# Must exceed the longest Plaid call (connect + read timeout) plus the database write.
BALANCE_REFRESH_LOCK_TTL = env.int(
    "BALANCE_REFRESH_LOCK_TTL", default=int(PLAID_TIMEOUT[0] + PLAID_TIMEOUT[1]) + 60
)
# A queued refresh counts as pending (not queued again) for at most this many seconds.
BALANCE_REFRESH_PENDING_TTL = env.int("BALANCE_REFRESH_PENDING_TTL", default=3600)
# Balance history: keep every snapshot this many days, then one per account per day.
BALANCE_HISTORY_DETAIL_DAYS = env.int("BALANCE_HISTORY_DETAIL_DAYS", default=90)

# --- E-mail and alerts (balances/services/alerts/) -----------------------------------
# Outgoing mail, in django-environ's form: smtp://user:password@host:587, smtp+tls://...
# (STARTTLS), smtp+ssl://... (TLS from the start), consolemail:// (print it). Unset: mail
# is printed on the worker's console (what `make run` does), and the login page has no
# "forgot password" link (there is no way to mail the reset link).
EMAIL_URL = env.str("EMAIL_URL", default="")
EMAIL_CONFIGURED = bool(EMAIL_URL) and not EMAIL_URL.startswith("consolemail:")
vars().update(env.email_url_config(EMAIL_URL or "consolemail://"))
# Seconds an SMTP connection may take (a dead server must not hold a worker thread).
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=30)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="Balances <balances@localhost>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL
# The app's public address, for links in alerts and password-reset mails.
SITE_URL = env.str("SITE_URL", default="http://127.0.0.1:8000").rstrip("/")
if not re.fullmatch(r"https?://[^/\s]+(/[^\s]*)?", SITE_URL):
    raise ImproperlyConfigured(
        f"SITE_URL must be the app's public address, e.g. https://balances.example.com, "
        f"not {SITE_URL!r}."
    )
# "A bank has not refreshed": an active connection whose last refresh is older than this.
ALERT_NOT_REFRESHED_HOURS = env.int("ALERT_NOT_REFRESHED_HOURS", default=48)
# Alerts of one user within this many seconds go out as one message (one refresh cycle).
ALERT_GROUP_SECONDS = env.int("ALERT_GROUP_SECONDS", default=60)
# Retries of a message that could not be sent (SMTP or a push service failing), with
# backoff base * 2**n seconds, capped; then it is marked failed with the reason.
ALERT_DELIVERY_MAX_RETRIES = env.int("ALERT_DELIVERY_MAX_RETRIES", default=8)
ALERT_RETRY_BASE_SECONDS = env.float("ALERT_RETRY_BASE_SECONDS", default=60.0)
ALERT_RETRY_CAP_SECONDS = env.float("ALERT_RETRY_CAP_SECONDS", default=3600.0)
# A worker sending a message holds it this many seconds (longer than EMAIL_TIMEOUT); a
# worker killed while sending lets it go then.
ALERT_SEND_CLAIM_SECONDS = env.int("ALERT_SEND_CLAIM_SECONDS", default=2 * EMAIL_TIMEOUT + 30)
# Beat's alert sweep: connections not refreshed for too long, and messages whose task was
# lost (a worker killed before it queued them) are queued again.
ALERT_SWEEP_INTERVAL = env.int("ALERT_SWEEP_INTERVAL", default=600)
# Password-reset mails: at most this many per address and per client per hour.
PASSWORD_RESET_PER_HOUR = env.int("PASSWORD_RESET_PER_HOUR", default=5)
PASSWORD_RESET_TIMEOUT = env.int("PASSWORD_RESET_TIMEOUT", default=3600)

CELERY_BEAT_SCHEDULE = {
    "refresh-all-items": {
        "task": "balances.tasks.refresh_all_items",
        "schedule": float(BALANCE_REFRESH_INTERVAL),
    },
    "alerts-sweep": {
        "task": "balances.tasks.alerts_sweep",
        "schedule": float(ALERT_SWEEP_INTERVAL),
    },
    "prune-balance-history": {
        "task": "balances.tasks.prune_balance_history",
        "schedule": 24 * 3600.0,
    },
}

# JSON lines in production (one object per record, with request/task id and extras),
# readable text in development.
LOG_FORMAT = env.str("LOG_FORMAT", default="text" if DEBUG else "json")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"context": {"()": "finance.logs.ContextFilter"}},
    "formatters": {
        "text": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"},
        "json": {"()": "finance.logs.JsonFormatter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": LOG_FORMAT,
            "filters": ["context"],
        },
        "discard": {"class": "logging.NullHandler"},
    },
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        # Apprise's records name the push URLs, which are secrets (a failed send names
        # ntfy's topic; its debug lines whole addresses): none reaches a log. What a
        # failed send says reaches the delivery, scrubbed, through `LogCapture`
        # (balances/services/alerts/deliver.py).
        "apprise": {"handlers": ["discard"], "propagate": False},
        # urllib3's debug lines name each request's path (a push service's secret path).
        "urllib3": {"level": "INFO"},
    },
}
