"""`make run` at a terminal, as a user meets it: the demo password and the browser session
outlive a restart, "Open ..." is printed once the server listens, mail (a test alert) is
shown on the console with no mail server, and Ctrl-C stops everything cleanly and quietly
(make exits 0 and says nothing, no process killed with SIGKILL, the worker on the file
broker included)."""

from __future__ import annotations

import fcntl
import http.cookiejar
import os
import re
import signal
import subprocess
import sys
import termios
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from tests.e2e.test_commands_beside_make_run import clean_environment, manage
from tests.helpers import copy_source_tree, free_port

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(400)]


class MakeRun:
    """`make run` at a terminal (a pseudo-terminal this test holds): its output goes to
    `log`; `ctrl_c` types Ctrl-C, and the terminal sends SIGINT to its foreground group."""

    def __init__(self, app: Path, log: Path, env: dict[str, str]) -> None:
        venv = Path(sys.prefix)
        master, terminal = os.openpty()
        self.master = master
        # The suite's virtualenv as make's (`-o`: make installs nothing into it).
        self.make = subprocess.Popen(
            ["make", "-o", f"{venv}/.runtime", "run", f"VENV={venv}"],
            cwd=app,
            env=env,
            stdin=terminal,
            stdout=terminal,
            stderr=terminal,
            start_new_session=True,
            preexec_fn=lambda: fcntl.ioctl(0, termios.TIOCSCTTY, 0),
        )
        os.close(terminal)
        self.reader = threading.Thread(target=self._read, args=(log,), daemon=True)
        self.reader.start()

    def _read(self, log: Path) -> None:
        with log.open("ab", buffering=0) as out:
            while True:
                try:
                    data = os.read(self.master, 4096)
                except OSError:  # EIO: every process holding the terminal ended
                    return
                if not data:
                    return
                out.write(data)

    def poll(self) -> int | None:
        return self.make.poll()

    def ctrl_c(self) -> int:
        """Type Ctrl-C; return make's exit status."""
        os.write(self.master, b"\x03")
        try:
            return self.make.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(self.make.pid, signal.SIGKILL)
            self.make.wait(10)
            raise
        finally:
            self.reader.join(10)
            os.close(self.master)


def start(app: Path, log: Path, port: int, emulator_port: int) -> MakeRun:
    env = {
        **clean_environment(),
        "PORT": str(port),
        "PLAID_EMULATOR_PORT": str(emulator_port),
        "CELERY_BROKER_URL": "redis://127.0.0.1:1/0",  # nothing listens: the file broker
    }
    log.write_bytes(b"")
    stack = MakeRun(app, log, env)
    deadline = time.monotonic() + 150
    while "API docs:" not in log.read_text(errors="replace"):
        if stack.poll() is not None or time.monotonic() > deadline:
            stack.ctrl_c()
            pytest.fail(f"`make run` did not come up:\n{log.read_text()[-4000:]}")
        time.sleep(0.2)
    return stack


def log_in(opener: urllib.request.OpenerDirector, base: str, password: str) -> None:
    page = opener.open(f"{base}/accounts/login/").read().decode()
    (token,) = re.findall(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)
    data = urllib.parse.urlencode(
        {"username": "demo", "password": password, "csrfmiddlewaretoken": token}
    ).encode()
    request = urllib.request.Request(f"{base}/accounts/login/", data=data)  # noqa: S310
    request.add_header("Referer", f"{base}/accounts/login/")
    opener.open(request).read()


def post_form(opener: urllib.request.OpenerDirector, base: str, page: str, action: str) -> str:
    """Post the form of `page` whose action is `action` (its CSRF token only); return the
    page it leads to."""
    html = opener.open(f"{base}{page}").read().decode()
    (token,) = set(re.findall(r'name="csrfmiddlewaretoken" value="([^"]+)"', html))
    data = urllib.parse.urlencode({"csrfmiddlewaretoken": token}).encode()
    request = urllib.request.Request(f"{base}{action}", data=data)  # noqa: S310
    request.add_header("Referer", f"{base}{page}")
    return opener.open(request).read().decode()


def wait_for(log: Path, text: str, seconds: float = 60) -> str:
    deadline = time.monotonic() + seconds
    while text not in (seen := log.read_text(errors="replace")):
        if time.monotonic() > deadline:
            pytest.fail(f"{text!r} not shown by `make run`:\n{seen[-4000:]}")
        time.sleep(0.2)
    return seen


def signed_in(opener: urllib.request.OpenerDirector, base: str) -> bool:
    response = opener.open(f"{base}/")
    return not response.geturl().startswith(f"{base}/accounts/login/")


def test_a_restart_keeps_the_password_and_the_session_and_ctrl_c_stops_cleanly(
    tmp_path: Path,
) -> None:
    app = tmp_path / "app"
    copy_source_tree(app)
    port, emulator_port = free_port(), free_port()
    base = f"http://127.0.0.1:{port}"

    first_log = tmp_path / "first.log"
    stack = start(app, first_log, port, emulator_port)
    first = first_log.read_text()
    (password,) = re.findall(r"password '([^']+)'", first)
    # "Open ..." comes after the web server's own startup lines: it was listening.
    assert first.index("Starting development server") < first.index(f"Open {base}/")
    opener = urllib.request.build_opener(
        urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
    )
    log_in(opener, base, password)
    assert signed_in(opener, base)

    # No EMAIL_URL: a test alert by e-mail goes out through the worker and shows on the
    # console `make run` writes to (the demo user gets an address first, as an admin would).
    done = manage(
        app,
        "shell",
        "-c",
        "from django.contrib.auth.models import User; "
        "User.objects.filter(username='demo').update(email='demo@example.com')",
    )
    assert done.returncode == 0, done.stderr
    page = post_form(opener, base, "/settings/alerts/", "/settings/alerts/email/test/")
    assert "Test e-mail queued to demo@example.com" in page
    shown = wait_for(first_log, "Subject: Balances: test alert")
    assert "To: demo@example.com" in shown

    started = time.monotonic()
    assert stack.ctrl_c() == 0
    stopped_in = time.monotonic() - started
    print(f"`make run` stopped {stopped_in:.1f} s after Ctrl-C")
    first = first_log.read_text()
    assert "Stopped." in first
    # Quietly: make heard no Ctrl-C of its own (no "*** [run] Interrupt", no "Error 130").
    assert "make: ***" not in first, first[-3000:]
    assert "SIGKILL" not in first, first[-3000:]  # each process stopped within the window

    second_log = tmp_path / "second.log"
    stack = start(app, second_log, port, emulator_port)
    try:
        second = second_log.read_text()
        assert password not in second
        assert "with the password it already had" in second
        assert signed_in(opener, base)  # the browser's session survived the restart
    finally:
        assert stack.ctrl_c() == 0
