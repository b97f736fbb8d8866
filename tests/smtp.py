"""A real SMTP server for the tests (aiosmtpd, in a thread): what the app's mail reaches.

`refuse_next(n)` makes it answer the next n messages with a temporary failure (451), as a
mail server that is overloaded does; `hold()` keeps the next message waiting before it is
answered (a worker can be killed while it sends).
"""

from __future__ import annotations

import asyncio
import email
import threading
from email.message import EmailMessage
from email.policy import default
from typing import Any

from aiosmtpd.controller import Controller

from tests.helpers import free_port


class Inbox:
    """The messages the server accepted, parsed."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.refused = 0
        self._refuse = 0
        self._hold = threading.Event()
        self._hold.set()
        self.holding = threading.Event()
        self._accept_held = True
        self._lock = threading.Lock()

    def refuse_next(self, count: int) -> None:
        with self._lock:
            self._refuse = count

    def hold(self) -> None:
        """Keep the next message waiting (unanswered) until `release()`."""
        self._hold.clear()

    def release(self, *, accept: bool = True) -> None:
        """Answer the message held; `accept=False`: refuse it (its sender is gone, as if the
        connection had dropped before the server took it)."""
        self._accept_held = accept
        self._hold.set()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if not self._hold.is_set():
            self.holding.set()
            while not self._hold.is_set():
                await asyncio.sleep(0.05)
            if not self._accept_held:
                return "451 4.4.2 Connection lost"
        with self._lock:
            if self._refuse > 0:
                self._refuse -= 1
                self.refused += 1
                return "451 4.3.2 Try again later"
            message = email.message_from_bytes(envelope.content, policy=default)
            assert isinstance(message, EmailMessage)
            self.messages.append(message)
        return "250 2.0.0 Accepted"

    def bodies(self, message: EmailMessage) -> tuple[str, str]:
        """(plain text, HTML) of `message`."""
        text = message.get_body(("plain",))
        html = message.get_body(("html",))
        return (
            text.get_content() if text is not None else "",  # type: ignore[attr-defined]
            html.get_content() if html is not None else "",  # type: ignore[attr-defined]
        )


class SmtpServer:
    def __init__(self) -> None:
        self.inbox = Inbox()
        self.port = free_port()
        self.controller = Controller(self.inbox, hostname="127.0.0.1", port=self.port)

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.controller.start()

    def stop(self) -> None:
        self.inbox.release()
        self.controller.stop()
