"""Guards for tests that need a real service, and the machine's headless Chromium.

Free of Django, so the emulator's tests can use it too. A missing service skips the test
with the reason shown; under CI (`CI` set) it fails instead, so CI never silently skips.
"""

from __future__ import annotations

import os
import shutil
import socket
from collections.abc import Callable
from typing import Any

import pytest

# Chromium as this machine kind runs it headless: no sandbox as root, and none of the
# background connections a closed network refuses.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def require_service(name: str, check: Callable[[], bool], hint: str) -> None:
    """Skip (or, under CI, fail) the calling test when a real service is missing."""
    if check():
        return
    message = f"{name} is not available: {hint}"
    if os.environ.get("CI"):
        pytest.fail(f"{message} (CI must run this test)")
    pytest.skip(message)


def tcp_open(host: str, port: int) -> bool:
    """Return whether something accepts TCP connections at host:port."""
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def require_chromium() -> str:
    """Return the path of the machine's Chromium (Debian package); never download one."""
    require_service(
        "Chromium", lambda: shutil.which("chromium") is not None, "apt-get install chromium"
    )
    path = shutil.which("chromium")
    assert path is not None
    return path


def press_link_button(button: Any) -> None:
    """Press a button of Plaid Link's frame that ends Link (Close, Continue, Exit).

    Its handler makes the page remove the frame the button is in. A real mouse click there
    races that removal: Playwright's click returns once Chromium has the frame's answer to
    the mouse event, and a frame removed first may never give it (seen in CI: a click on
    Close stuck in "performing click action" until its timeout, Link already closed). So
    the button is checked as a click would (visible, enabled), then gets its click event
    from the frame's own script, which answers before the frame goes.
    """
    button.wait_for(state="visible")
    assert button.is_enabled(), "the button is disabled"
    button.dispatch_event("click")
