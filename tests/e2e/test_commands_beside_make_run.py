"""`manage.py` commands run in another terminal while `make run` is up see its configuration.

`python -m finance.stack` (what `make run` runs) starts in a copy of the source tree with
the offline emulator and, Redis made unreachable, the file broker. The commands then run
as an operator types them (no Plaid or broker setting in their environment): they link,
refresh and queue through the emulator. Once it stops, a command that calls Plaid says
`NOT_CONFIGURED` and no connection is marked as failing.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import copy_source_tree, free_port

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]


def clean_environment() -> dict[str, str]:
    """This machine's environment without the test run's settings: an operator's shell."""
    return {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DJANGO_", "PLAID_", "PYTEST", "CELERY_", "THROTTLE_"))
        and k not in ("DATABASE_URL", "DATA_DIR", "SECRET_KEY", "FIELD_ENCRYPTION_KEY", "PORT")
        and k not in ("SECURE_SSL_REDIRECT", "SESSION_COOKIE_SECURE", "CSRF_COOKIE_SECURE")
    }


@pytest.fixture
def app(tmp_path: Path) -> Path:
    app = tmp_path / "app"
    copy_source_tree(app)
    return app


@pytest.fixture
def make_run(app: Path, tmp_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    """`make run` in the copy, up (it printed where to go); stopped with Ctrl-C after."""
    log = tmp_path / "make-run.log"
    env = {
        **clean_environment(),
        "PORT": str(free_port()),
        "PLAID_EMULATOR_PORT": str(free_port()),
        "CELERY_BROKER_URL": "redis://127.0.0.1:1/0",  # nothing listens: the file broker
    }
    with log.open("wb") as out:
        stack = subprocess.Popen(
            [sys.executable, "-m", "finance.stack"],
            cwd=app,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    deadline = time.monotonic() + 120
    while "API docs:" not in log.read_text():
        if stack.poll() is not None or time.monotonic() > deadline:
            stop(stack)
            pytest.fail(f"`make run` did not come up:\n{log.read_text()[-4000:]}")
        time.sleep(0.5)
    stack.log = log  # type: ignore[attr-defined]
    yield stack
    stop(stack)


def stop(stack: subprocess.Popen[bytes]) -> None:
    """Ctrl-C, as the README says; then make sure nothing is left."""
    if stack.poll() is None:
        os.killpg(stack.pid, signal.SIGINT)
        try:
            stack.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(stack.pid, signal.SIGKILL)
            stack.wait(10)


def manage(app: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=app,
        env=clean_environment(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_commands_beside_make_run_see_its_configuration(app, make_run) -> None:
    linked = manage(app, "link_sandbox_item", "demo")
    assert linked.returncode == 0, linked.stderr
    match = re.search(r"\(item (\S+)\)", linked.stdout)
    assert match, linked.stdout
    assert "Fetched balances of" in linked.stdout

    synced = manage(app, "refresh_balances", "--sync")
    assert synced.returncode == 0, synced.stderr
    one = manage(app, "item_refresh", match.group(1), "--sync")
    assert one.returncode == 0, one.stderr
    assert one.stdout.startswith("Refreshed ")
    queued = manage(app, "refresh_balances")  # through `make run`'s file broker
    assert queued.returncode == 0, queued.stderr
    assert re.match(r"Queued \d+ refresh task\(s\)\.", queued.stdout)
    assert manage(app, "item_list", "--erroring").stdout.strip() == "0 Item(s)."

    stop(make_run)
    assert "PLAID_CLIENT_ID" not in (app / ".env").read_text()  # its block went with it
    after = manage(app, "refresh_balances", "--sync")
    assert after.returncode == 1
    assert "Plaid is not configured (NOT_CONFIGURED)" in after.stderr
    assert "`make run` is up" in after.stderr
    # The operator's error is no user's: no connection is marked as failing.
    assert manage(app, "item_list", "--erroring").stdout.strip() == "0 Item(s)."
