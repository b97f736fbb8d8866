"""The JSON body of a request, parsed within bounds: the one parser of the app's JSON views.

Whatever the client sends, the result is a dict or `InvalidJSONBody` (a ValueError whose
`str()` is fit to show the user; views answer it with 400). Bounds: the size
(MAX_BODY_BYTES), the nesting depth (MAX_DEPTH, checked before parsing, so deep input can
never reach the parser's recursion), no NUL character anywhere (PostgreSQL cannot store
one), no NaN or Infinity, and no integer too long for Python to read.
"""

from __future__ import annotations

import json
import re
from typing import Any

from django.http import HttpRequest

MAX_BODY_BYTES = 256 * 1024
# Link's metadata, the deepest body a view takes, nests 3 levels.
MAX_DEPTH = 32

# A JSON string literal (escapes included); brackets inside one do not nest anything.
_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_BRACKET = re.compile(rb"[\[\]{}]")


class InvalidJSONBody(ValueError):
    """The body is not a JSON object within the bounds. `str()` is fit to show the user."""


def _too_deep(raw: bytes) -> bool:
    depth = 0
    for match in _BRACKET.finditer(_STRING.sub(b'""', raw)):
        depth += 1 if match.group() in (b"[", b"{") else -1
        if depth > MAX_DEPTH:
            return True
    return False


def _reject_constant(name: str) -> Any:
    raise InvalidJSONBody(f"The request contains {name}, which is not a number.")


def _has_nul(value: Any) -> bool:
    """Return whether a NUL is in any string of `value` (iterative: depth is bounded anyway)."""
    stack = [value]
    while stack:
        node = stack.pop()
        if isinstance(node, str):
            if "\x00" in node:
                return True
        elif isinstance(node, dict):
            stack.extend(node.keys())
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return False


def parse_json_object(raw: bytes) -> dict[str, Any]:
    """Return `raw` parsed as a JSON object (empty: `{}`); raise InvalidJSONBody otherwise."""
    if len(raw) > MAX_BODY_BYTES:
        raise InvalidJSONBody("The request is too large.")
    if not raw.strip():
        return {}
    if _too_deep(raw):
        raise InvalidJSONBody("The request is nested too deeply.")
    try:
        body = json.loads(raw, parse_constant=_reject_constant)
    except InvalidJSONBody:
        raise
    # ValueError: malformed JSON, bad UTF-8, an integer over Python's digit limit;
    # RecursionError only as a backstop (the depth is checked above).
    except (ValueError, RecursionError) as exc:
        raise InvalidJSONBody("The request is not valid JSON.") from exc
    if not isinstance(body, dict):
        raise InvalidJSONBody("The request must be a JSON object.")
    if _has_nul(body):
        raise InvalidJSONBody("The request contains a NUL character.")
    return body


def json_body(request: HttpRequest) -> dict[str, Any]:
    """Return the request's JSON object; raise InvalidJSONBody (a ValueError) otherwise."""
    return parse_json_object(request.body)
