"""Fixtures that start real processes: the Plaid emulator and Celery workers on real Redis."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import redis
from django.db import connection

from plaid_emulator import DEFAULT_CLIENT_ID, DEFAULT_SECRET, start_emulator
from tests.conftest import require_service, tcp_open
from tests.services import CHROMIUM_ARGS, require_chromium

ROOT = Path(__file__).resolve().parents[2]
REDIS_HOST, REDIS_PORT = "127.0.0.1", 6379
# A Redis database of its own, so tests never meet a development worker's messages.
REDIS_URL = os.environ.get("TEST_REDIS_URL", f"redis://{REDIS_HOST}:{REDIS_PORT}/15")


@pytest.fixture
def redis_url() -> str:
    require_service(
        "Redis", lambda: tcp_open(REDIS_HOST, REDIS_PORT), f"nothing listens on {REDIS_HOST}:6379"
    )
    return REDIS_URL


@pytest.fixture
def emulator(settings: Any) -> Iterator[Any]:
    """The offline emulator on a free port, balances frozen; settings point the app at it."""
    emu = start_emulator(host="127.0.0.1", port=0, freeze=True)
    settings.PLAID_HOST = emu.url
    settings.PLAID_CLIENT_ID = DEFAULT_CLIENT_ID
    settings.PLAID_SECRET = DEFAULT_SECRET
    settings.PLAID_ENV = "sandbox"
    yield emu
    emu.stop()


def database_url() -> str:
    """Return a DATABASE_URL for the test database, for processes started by a test."""
    s = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{s['NAME']}"
    auth = quote(s["USER"] or "")
    if s.get("PASSWORD"):
        auth += ":" + quote(s["PASSWORD"])
    host = f"{auth}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}"
    return f"postgres://{host}/{s['NAME']}"


@pytest.fixture
def process_env(redis_url: str, emulator: Any) -> Iterator[dict[str, str]]:
    """Environment for app processes: same keys and test database, real Redis, emulator.

    At teardown (after the test's workers stopped) the test's broker keys go: its queue
    and what the workers gave back to it when they stopped, kombu's bindings.
    """
    env = os.environ.copy()
    queue = f"test-{uuid.uuid4().hex[:12]}"
    env.update(
        DJANGO_SETTINGS_MODULE="tests.settings",
        DATABASE_URL=database_url(),
        CELERY_BROKER_URL=redis_url,
        CELERY_TASK_DEFAULT_QUEUE=queue,
        # Broker keys of this test's own: another run's worker on the same Redis database
        # (a shorter visibility timeout) would otherwise deliver again what ours are running.
        CELERY_BROKER_KEY_PREFIX=f"{queue}:",
        PLAID_HOST=emulator.url,
        PLAID_CLIENT_ID=DEFAULT_CLIENT_ID,
        PLAID_SECRET=DEFAULT_SECRET,
        PLAID_ENV="sandbox",
    )
    yield env
    client = redis.Redis.from_url(redis_url, socket_timeout=5)
    with contextlib.suppress(redis.RedisError), client:
        keys = list(client.scan_iter(match=f"{queue}:*", count=1000))
        if keys:
            client.delete(*keys)


def broker_connection(app: Any, env: dict[str, str]) -> Any:
    """A connection of `app` (in this process) to the broker of the processes run in `env`.

    Explicit: Celery prefers the CELERY_BROKER_URL environment variable (memory:// in the
    test process) over the app's configuration.
    """
    return app.connection_for_write(
        env["CELERY_BROKER_URL"],
        transport_options={"global_keyprefix": env["CELERY_BROKER_KEY_PREFIX"]},
    )


@pytest.fixture
def start_worker(process_env: dict[str, str]) -> Iterator[Callable[..., subprocess.Popen[bytes]]]:
    """Start Celery workers on the test's own queue; stop them at teardown."""
    workers: list[subprocess.Popen[bytes]] = []

    def start(
        name: str = "w1",
        *,
        pool: str = "solo",
        concurrency: int = 1,
        env: dict[str, str] | None = None,
    ) -> subprocess.Popen[bytes]:
        worker = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "finance",
                "worker",
                "--hostname",
                f"{name}@%h",
                "--pool",
                pool,
                "--concurrency",
                str(concurrency),
                "--queues",
                process_env["CELERY_TASK_DEFAULT_QUEUE"],
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
                "-l",
                "info",
            ],
            cwd=ROOT,
            env=env or process_env,
        )
        workers.append(worker)
        return worker

    yield start
    for worker in workers:
        worker.terminate()
    for worker in workers:
        try:
            worker.wait(15)
        except subprocess.TimeoutExpired:
            worker.kill()


def wait_for(predicate: Callable[[], object], timeout: float = 45.0, interval: float = 0.1) -> bool:
    """Poll `predicate` until it is true or `timeout` seconds pass; return whether it became
    true. Generous: work crosses processes and a slow CI machine."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return False


def emulator_post(
    emulator: Any, path: str, body: dict[str, Any] | None = None, method: str = "POST"
) -> Any:
    """Call the emulator (its control endpoint `/emulator/...` or a sandbox endpoint) with
    its credentials; return the JSON reply, failing the test on an error status."""
    import urllib3

    response = urllib3.request(
        method,
        emulator.url + path,
        json=body or {},
        headers={"PLAID-CLIENT-ID": DEFAULT_CLIENT_ID, "PLAID-SECRET": DEFAULT_SECRET},
        timeout=10,
    )
    assert response.status == 200, response.data
    return response.json()


def manage(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """Run a management command in its own process with `env`."""
    return subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """The machine's headless Chromium (never a downloaded one), one per test module."""
    chromium_path = require_chromium()
    from playwright.sync_api import sync_playwright

    # Playwright's sync API runs an event loop; Django's async-safety check would refuse
    # the test's own ORM calls while it is alive. Restored afterwards.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as p:
            chromium = p.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS)
            yield chromium
            chromium.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous
