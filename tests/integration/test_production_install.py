"""The README's "Running in production" set-up, verbatim, on a fresh PostgreSQL database.

A copy of the source tree gets a fresh virtualenv built from `requirements.txt` alone (the
machine's package index; pip's cache is reused), then every command of the README's
set-up block runs as written, in order: the `.env` is filled in where the README says
"fill in", `createsuperuser` is given its answers in the environment (`--noinput`), and
`honcho start` starts the Procfile's `web` process (gunicorn) alone, which must answer
`/healthz/` with the PostgreSQL database up. Minutes (the install); once per `make test`,
on the SQLite run (it brings its own database).
"""

from __future__ import annotations

import json
import os
import re
import secrets
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote, urlsplit

import pytest
from django.db import connection

from tests.helpers import copy_source_tree, free_port
from tests.services import require_service, tcp_open

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1200)]

ROOT = Path(__file__).resolve().parents[2]
# The PostgreSQL server the throwaway database is created on (trust auth, as `make test`,
# which passes its PG_URL; the database named there is not used).
SERVER = urlsplit(os.environ.get("TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/"))
PG_URL = SERVER._replace(path="/postgres").geturl()


def readme_setup_commands() -> list[str]:
    """Return the commands of the README's production set-up block, comments removed."""
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Running in production", 1)[1]
    block = re.search(r"Setting up [^\n]*:\n\n```sh\n(.*?)\n```", section, re.S)
    assert block, "the README's production set-up block is missing"
    commands = []
    for line in block.group(1).splitlines():
        command = line.split("#", 1)[0].strip()
        if command:
            commands.append(command)
    return commands


def fill_in_env(env_file: Path, values: dict[str, str]) -> None:
    """Set `values` in the copied .env.example, as the README asks the operator to."""
    lines = env_file.read_text().splitlines()
    missing = dict(values)
    for i, line in enumerate(lines):
        name = line.split("=", 1)[0]
        if not line.startswith("#") and name in missing:
            lines[i] = f"{name}={missing.pop(name)}"
    assert not missing, f".env.example does not document {sorted(missing)}"
    env_file.write_text("\n".join(lines) + "\n")


@pytest.fixture
def postgres_database() -> Iterator[str]:
    """A fresh, empty PostgreSQL database; its DATABASE_URL. Dropped afterwards."""
    if connection.vendor != "sqlite":
        pytest.skip("the production install is tested once, on the SQLite run of the suite")
    host, port = SERVER.hostname or "127.0.0.1", SERVER.port or 5432
    require_service("PostgreSQL", lambda: tcp_open(host, port), f"nothing listens on {host}:{port}")
    import psycopg

    name = f"finance_c4_install_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield SERVER._replace(path="/" + quote(name)).geturl()
    finally:
        with psycopg.connect(PG_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def run(command: str, cwd: Path, env: dict[str, str]) -> None:
    done = subprocess.run(
        ["bash", "-ec", command],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert done.returncode == 0, (
        f"README step failed: {command}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    )


def wait_for_health(url: str, server: subprocess.Popen[bytes], log: Path) -> dict:
    deadline = time.monotonic() + 60
    while True:
        if server.poll() is not None:
            pytest.fail(f"honcho exited with {server.returncode}:\n{log.read_text()[-3000:]}")
        request = urllib.request.Request(url, headers={"Host": "localhost"})  # noqa: S310
        try:
            with urllib.request.urlopen(request, timeout=5) as reply:  # noqa: S310
                assert reply.status == 200
                return json.loads(reply.read())
        except OSError:
            if time.monotonic() > deadline:
                pytest.fail(f"gunicorn never answered {url}:\n{log.read_text()[-3000:]}")
            time.sleep(0.5)


def test_readme_production_steps_install_migrate_and_serve_on_postgresql(
    postgres_database: str, tmp_path: Path
) -> None:
    from cryptography.fernet import Fernet

    app = tmp_path / "app"
    copy_source_tree(app)
    env = {
        k: v
        for k, v in os.environ.items()
        # Nothing of this test run may leak into the install: only the README's .env counts.
        if not k.startswith(("DJANGO_", "VIRTUAL_ENV", "PYTHON"))
        and k not in ("DATABASE_URL", "CELERY_BROKER_URL", "DATA_DIR", "SECRET_KEY")
        and not k.startswith(("PLAID_", "FIELD_ENCRYPTION", "PYTEST"))
    }
    # `python3` is this interpreter (the README's python3), first on PATH.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "python3").symlink_to(getattr(sys, "_base_executable", sys.executable))
    env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
    env.update(
        DJANGO_SUPERUSER_USERNAME="admin",
        DJANGO_SUPERUSER_EMAIL="admin@example.com",
        DJANGO_SUPERUSER_PASSWORD=secrets.token_urlsafe(16),
    )
    port = free_port()

    commands = readme_setup_commands()
    assert commands[-1] == "honcho start", commands
    for command in commands[:-1]:
        if command.endswith("manage.py createsuperuser"):
            command += " --noinput"  # its answers are in the environment (DJANGO_SUPERUSER_*)
        if command == ". .venv/bin/activate":
            env["PATH"] = f"{app / '.venv' / 'bin'}{os.pathsep}{env['PATH']}"
            env["VIRTUAL_ENV"] = str(app / ".venv")
            continue
        run(command, app, env)
        if command.startswith("cp .env.example .env"):
            fill_in_env(
                app / ".env",
                {
                    "SECRET_KEY": secrets.token_urlsafe(50),
                    "FIELD_ENCRYPTION_KEY": Fernet.generate_key().decode(),
                    "ALLOWED_HOSTS": "localhost",
                    "DATABASE_URL": postgres_database,
                    "CELERY_BROKER_URL": "redis://127.0.0.1:6379/8",
                    "PLAID_CLIENT_ID": "production-install-test",
                    "PLAID_SECRET": "production-install-test",  # never called
                    "PLAID_ENV": "production",
                    # honcho gives the web process .env's PORT (documented as `make run`'s).
                    "PORT": str(port),
                },
            )

    # The runtime requirements alone: no test or tooling package came with them.
    venv_python = app / ".venv" / "bin" / "python"
    for dev_only in ("pytest", "ruff", "playwright"):
        probe = subprocess.run(
            [str(venv_python), "-c", f"import {dev_only}"], capture_output=True, check=False
        )
        assert probe.returncode != 0, f"{dev_only} is installed by requirements.txt"

    log = tmp_path / "honcho.log"
    with log.open("wb") as out:
        server = subprocess.Popen(
            ["bash", "-c", "exec honcho start web"],
            cwd=app,
            env={**env, "WEB_CONCURRENCY": "1"},
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        health = wait_for_health(f"http://127.0.0.1:{port}/healthz/", server, log)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(10)
    assert health["checks"]["database"] == {**health["checks"]["database"], "ok": True}
    assert health["checks"]["database"]["vendor"] == "postgresql"
    assert "gunicorn" in log.read_text()
