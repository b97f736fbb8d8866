"""Fields added to every log record written inside a block: `with log_context(item_id=7)`.

The project's log filter (`finance.logs.ContextFilter`) copies them onto each record; the
app never imports the project. Per thread and task (a ContextVar).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

_fields: ContextVar[dict[str, object]] = ContextVar("log_fields", default={})  # noqa: B039


def current() -> dict[str, object]:
    """Return the fields of the innermost `log_context` block (empty outside any)."""
    return _fields.get()


@contextmanager
def log_context(**fields: object) -> Iterator[None]:
    """Add `fields` to every record logged in this block (this thread or task only).

    Never pass a token or other secret: the fields reach every log line.
    """
    token = _fields.set({**_fields.get(), **fields})
    try:
        yield
    finally:
        _fields.reset(token)
