"""Serving as in production: `collectstatic`, then the Procfile's gunicorn line with DEBUG
off, behind a TLS proxy (X-Forwarded-Proto). Pages, hashed static files with long cache
headers (whitenoise), and /healthz/ for the load balancer.
"""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
import time
from pathlib import Path

import pytest
import urllib3
from cryptography.fernet import Fernet

from balances.models import BeatRun
from balances.services.beat import beat_run_record
from tests.e2e.conftest import ROOT, database_url
from tests.helpers import free_port

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PROXY = {"X-Forwarded-Proto": "https"}


def procfile_command(name: str) -> str:
    for line in (ROOT / "Procfile").read_text().splitlines():
        if line.startswith(f"{name}:"):
            return line.split(":", 1)[1].strip()
    raise AssertionError(f"no {name} process in the Procfile")


@pytest.fixture
def production_env(tmp_path: Path, redis_url: str) -> dict[str, str]:
    """A production environment: finance.settings, DEBUG off, fresh keys, no .env values."""
    env = {
        "PATH": str(Path(sys.executable).parent) + ":/usr/bin:/bin",
        "DJANGO_SETTINGS_MODULE": "finance.settings",
        "DEBUG": "false",
        "SECRET_KEY": "prod-" + Fernet.generate_key().decode(),
        # The test database's tokens were written with the suite's key: keep it readable.
        "FIELD_ENCRYPTION_KEY": __import__("os").environ["FIELD_ENCRYPTION_KEY"],
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "DATABASE_URL": database_url(),
        "CELERY_BROKER_URL": redis_url,
        "DATA_DIR": str(tmp_path / "var"),
        "STATIC_ROOT": str(tmp_path / "static"),
        "SECURE_PROXY_SSL_HEADER": "HTTP_X_FORWARDED_PROTO,https",
        "WEB_CONCURRENCY": "2",
    }
    return env


def test_gunicorn_serves_pages_hashed_static_files_and_healthz(production_env, tmp_path):
    beat_run_record(task=BeatRun.FANOUT)
    collect = subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput"],
        cwd=ROOT,
        env=production_env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert collect.returncode == 0, collect.stderr
    manifest = json.loads((tmp_path / "static" / "staticfiles.json").read_text())["paths"]
    hashed_css = manifest["css/app.css"]
    assert hashed_css != "css/app.css"
    assert (tmp_path / "static" / (hashed_css + ".gz")).exists()  # compressed ahead of time

    port = free_port()
    server = subprocess.Popen(
        ["bash", "-c", "exec " + procfile_command("web")],
        cwd=ROOT,
        env={**production_env, "PORT": str(port), "FORWARDED_ALLOW_IPS": "127.0.0.1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    http = urllib3.PoolManager(retries=False)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                health = http.request("GET", base + "/healthz/", timeout=5)
                break
            except urllib3.exceptions.HTTPError:
                assert server.poll() is None, server.stdout.read().decode() if server.stdout else ""
                assert time.monotonic() < deadline, "gunicorn did not start"
                time.sleep(0.2)
        # The load balancer probes plain HTTP: answered, not redirected to HTTPS.
        assert health.status == 200, health.data
        assert health.json()["status"] == "ok"
        assert health.json()["checks"]["broker"]["kind"] == "redis"

        # Plain HTTP from a browser is redirected to HTTPS; through the proxy it is served.
        plain = http.request("GET", base + "/accounts/login/", redirect=False, timeout=5)
        assert plain.status == 301 and plain.headers["Location"].startswith("https://")
        login = http.request("GET", base + "/accounts/login/", headers=PROXY, timeout=5)
        assert login.status == 200
        page = login.data.decode()
        assert f"/static/{hashed_css}" in page
        assert "Strict-Transport-Security" in login.headers
        assert "Content-Security-Policy" in login.headers
        assert login.headers["X-Request-ID"]

        css = http.request(
            "GET",
            base + f"/static/{hashed_css}",
            headers={**PROXY, "Accept-Encoding": "gzip"},
            timeout=5,
            decode_content=False,
        )
        assert css.status == 200
        assert css.headers["Cache-Control"] == "max-age=315360000, public, immutable"
        assert css.headers["Content-Encoding"] == "gzip"
        assert css.headers["Content-Type"].startswith("text/css")
        unhashed = http.request("GET", base + "/static/css/app.css", headers=PROXY, timeout=5)
        assert "immutable" not in unhashed.headers.get("Cache-Control", "")
    finally:
        server.terminate()
        try:
            output = server.communicate(timeout=15)[0].decode()
        except subprocess.TimeoutExpired:
            server.kill()
            output = server.communicate()[0].decode()
    # Access and app logs are lines on standard output; the app's are JSON.
    app_lines = [line for line in output.splitlines() if line.startswith("{")]
    assert app_lines, output
    assert all(json.loads(line)["level"] for line in app_lines)
    assert shlex.quote(production_env["SECRET_KEY"]) not in output
