"""Send a page's head, header, navigation and messages before its slow part is read.

`render_streaming` renders the page twice over one context: first with its `content`
block replaced by a marker (no figures read: the nav's unread count, the messages, the
CSRF token), sent at once; then, while the response streams, completely, sending what
follows that first part. The page a browser receives is byte for byte the one `render`
gives for the same context.

Contracts, because the middleware has run by the time the rest is rendered:
- Everything that sets a header or a cookie happens before the first byte: the CSRF
  token is read (its cookie is set) and the messages are read (marked used, so the
  messages middleware clears them) in the view; both are passed as plain values, so the
  two renders agree.
- The rest runs in the request's context (`contextvars`: the request id in logs) and its
  time zone (`TimeZoneMiddleware` has deactivated it by then).
- A failure after the first byte cannot change the status (200 is sent): the page ends
  with an error block saying the page is incomplete and how to get it, and the document
  is closed (never a silently truncated page). The failure is logged.
"""

from __future__ import annotations

import contextvars
import logging
from collections.abc import Callable, Iterator
from functools import lru_cache
from typing import Any

from django.contrib import messages
from django.db import DatabaseError
from django.http import HttpRequest, StreamingHttpResponse
from django.middleware.csrf import get_token
from django.template import engines
from django.template.backends.django import Template
from django.template.loader import get_template
from django.utils import timezone
from django.utils.html import format_html

logger = logging.getLogger(__name__)

# Stands for the `content` block in the first render; never sent.
MARKER = "<!-- balances: the page's content follows -->"

DATABASE_ERROR = (
    "This page could not be finished: the database did not answer. "
    "Your data is unchanged; reload the page in a moment."
)
OTHER_ERROR = (
    "This page could not be finished because of an error on our side. "
    "Your data is unchanged; reload the page in a moment."
)


@lru_cache(maxsize=16)
def _head_template(template_name: str) -> Template:
    """The page with its `content` block replaced by MARKER (compiled once)."""
    source = f'{{% extends "{template_name}" %}}{{% block content %}}{MARKER}{{% endblock %}}'
    return engines["django"].from_string(source)  # type: ignore[return-value]


def render_streaming(
    request: HttpRequest,
    template_name: str,
    build_context: Callable[[], dict[str, Any]],
) -> StreamingHttpResponse:
    """Return `template_name` as a streamed response: everything before its `content`
    block at once, then the rest once `build_context()` (the slow reads) has run.

    Call after the view's access checks and its parameter checks: from here the status
    is 200. The template's title block and the base layout must not depend on what
    `build_context` returns (checked: the page ends with an error block otherwise).
    """
    shared = {
        "csrf_token": get_token(request),  # sets the CSRF cookie now, with the headers
        "messages": list(messages.get_messages(request)),  # used: cleared by the middleware
    }
    head, tail = _head_template(template_name).render(shared, request).split(MARKER)
    zone = timezone.get_current_timezone()
    context = contextvars.copy_context()

    def rest() -> str:
        with timezone.override(zone):
            page = get_template(template_name).render({**shared, **build_context()}, request)
        if not page.startswith(head):
            raise RuntimeError(f"{template_name}: the page's head depends on its figures")
        return page[len(head) :]

    def chunks() -> Iterator[str]:
        yield head
        try:
            yield context.run(rest)
        except DatabaseError:
            context.run(logger.exception, "Page cut short: the database failed mid-stream")
            yield _error_block(DATABASE_ERROR) + tail
        except Exception:
            context.run(logger.exception, "Page cut short: an error mid-stream")
            yield _error_block(OTHER_ERROR) + tail

    response = StreamingHttpResponse(chunks())
    # nginx buffers a proxied response whole unless told not to: the header would wait.
    response["X-Accel-Buffering"] = "no"
    return response


def _error_block(text: str) -> str:
    """The block ending a page that could not be finished."""
    # The messages' own look (base.html), as an alert: it ends what is on the screen.
    return str(
        format_html(
            '<div class="messages" role="alert"><p class="message error">{}</p></div>', text
        )
    )
