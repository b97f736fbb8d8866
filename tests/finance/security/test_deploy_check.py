"""Production settings: `check --deploy` is clean; missing or bad keys stop start-up."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

ROOT = Path(__file__).resolve().parents[3]

# Only what a process needs to run: nothing of the test run (its settings, keys, or flags
# such as DJANGO_ALLOW_ASYNC_UNSAFE that browser tests set) leaks into "production".
INHERITED_VARIABLES = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "TZ")


def production_env(tmp_path: Path, **overrides: str) -> dict[str, str]:
    """Environment of a production start: DEBUG off, real keys, everything else default.

    A developer's .env fills only variables not set here; it must not set the security
    variables for this test to see their defaults (`make run` writes none of them).
    """
    env = {k: v for k, v in os.environ.items() if k in INHERITED_VARIABLES}
    env.update(
        DJANGO_SETTINGS_MODULE="finance.settings",
        DEBUG="false",
        SECRET_KEY=secrets.token_urlsafe(50),
        FIELD_ENCRYPTION_KEY=Fernet.generate_key().decode(),
        ALLOWED_HOSTS="money.example.com",
        DATABASE_URL=f"sqlite:///{tmp_path / 'prod.sqlite3'}",
        DATA_DIR=str(tmp_path),
        CELERY_BROKER_URL="memory://",
    )
    env.update(overrides)
    return env


def run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_check_deploy_is_clean_under_production_settings(tmp_path: Path) -> None:
    result = run(
        production_env(tmp_path), "manage.py", "check", "--deploy", "--fail-level", "DEBUG"
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "System check identified no issues (0 silenced)." in result.stdout, output
    assert "WARNING" not in output and "?:" not in output


def test_production_defaults(tmp_path: Path) -> None:
    code = (
        "from django.conf import settings as s; "
        "print(s.SECURE_SSL_REDIRECT, s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, "
        "s.SECURE_HSTS_SECONDS, s.REQUIRE_STAFF_2FA, s.SECURE_PROXY_SSL_HEADER)"
    )
    prod = run(production_env(tmp_path), "manage.py", "shell", "-v", "0", "-c", code)
    assert prod.stdout.split() == ["True", "True", "True", "31536000", "True", "None"], prod.stderr
    dev = run(production_env(tmp_path, DEBUG="true"), "manage.py", "shell", "-v", "0", "-c", code)
    assert dev.stdout.split() == ["False", "False", "False", "0", "False", "None"], dev.stderr
    proxied = run(
        production_env(tmp_path, SECURE_PROXY_SSL_HEADER="HTTP_X_FORWARDED_PROTO,https"),
        "manage.py",
        "shell",
        "-v",
        "0",
        "-c",
        "from django.conf import settings as s; print(s.SECURE_PROXY_SSL_HEADER)",
    )
    assert proxied.stdout.strip() == "('HTTP_X_FORWARDED_PROTO', 'https')", proxied.stderr


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"SECRET_KEY": ""}, "SECRET_KEY is not set"),
        ({"FIELD_ENCRYPTION_KEY": ""}, "FIELD_ENCRYPTION_KEY is not set"),
        ({"FIELD_ENCRYPTION_KEY": "not-a-key"}, "not a Fernet key"),
        ({"SECURE_PROXY_SSL_HEADER": "HTTP_X_FORWARDED_PROTO"}, "SECURE_PROXY_SSL_HEADER"),
        ({"PLAID_LINK_SCRIPT_URL": "cdn.plaid.com/x.js"}, "PLAID_LINK_SCRIPT_URL"),
        ({"PLAID_BALANCE_PRICE": "ten cents"}, "PLAID_BALANCE_PRICE must be a decimal"),
        ({"PLAID_BALANCE_PRICE": "-0.1"}, "PLAID_BALANCE_PRICE must be a decimal of 0"),
        ({"PLAID_BALANCE_PRICE": "NaN"}, "PLAID_BALANCE_PRICE must be a decimal of 0"),
        ({"PLAID_BALANCE_MONTHLY_BUDGET": "-5"}, "PLAID_BALANCE_MONTHLY_BUDGET must be"),
        ({"PLAID_BALANCE_MONTHLY_BUDGET": "1e3"}, "PLAID_BALANCE_MONTHLY_BUDGET must be"),
        ({"BALANCE_REFRESH_ON_OPEN_AFTER": "-1"}, "BALANCE_REFRESH_ON_OPEN_AFTER must be"),
        ({"PLAID_BALANCE_REFRESH_NOW_DAILY_CAP": "-1"}, "PLAID_BALANCE_REFRESH_NOW_DAILY_CAP"),
        (
            {
                "DATABASE_URL": "postgres://u@127.0.0.1:5432/x?conn_max_age=600",
                "DATABASE_POOL_SIZE": "10",
            },
            "DATABASE_POOL_SIZE and conn_max_age",
        ),
    ],
)
def test_bad_configuration_stops_start_up_with_a_clear_message(
    tmp_path: Path, overrides: dict[str, str], message: str
) -> None:
    result = run(production_env(tmp_path, **overrides), "manage.py", "check")
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr and message in result.stderr


def test_database_pool_size_gives_postgresql_a_pool(tmp_path: Path) -> None:
    code = (
        "from django.conf import settings as s; "
        "print(s.DATABASES['default'].get('OPTIONS', {}).get('pool'))"
    )
    url = "postgres://u@127.0.0.1:5432/x"
    pooled = run(
        production_env(tmp_path, DATABASE_URL=url, DATABASE_POOL_SIZE="20"),
        "manage.py",
        "shell",
        "-v",
        "0",
        "-c",
        code,
    )
    assert pooled.stdout.strip() == "{'min_size': 1, 'max_size': 20, 'timeout': 30}", pooled.stderr
    plain = run(
        production_env(tmp_path, DATABASE_URL=url), "manage.py", "shell", "-v", "0", "-c", code
    )
    assert plain.stdout.strip() == "None", plain.stderr
