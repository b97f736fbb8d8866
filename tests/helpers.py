"""Helpers shared by the test modules (fixtures live in conftest.py)."""

from __future__ import annotations

import re
from typing import Any


def text(response: Any) -> str:
    """Return a response's body with runs of whitespace collapsed to one space."""
    return re.sub(r"\s+", " ", response.content.decode())


def tight_text(response: Any) -> str:
    """Return `text(response)` with the spaces at tags' edges removed too, so an assertion
    can name "<td>$110.00</td>" whatever the template's indentation."""
    return re.sub(r"\s*<", "<", re.sub(r">\s*", ">", text(response)))
