"""Inject faults (Plaid errors, malformed or truncated replies) and latency.

A fault rule is a dict ``{"id", "error_code", "item_id"?, "endpoint"?, "count"?}``
stored in ``State.faults`` (so it persists). ``match`` is called once per API
request; with no rules it returns at once (cost: one list check).
"""

from __future__ import annotations

import math
import random
import uuid
from typing import Any

from .errors import CATALOGUE, invalid_field
from .store import State

SPECIAL = frozenset({"MALFORMED", "TRUNCATED"})
# Realistic latency: lognormal, /accounts/balance/get median 3 s and p95 11 s;
# other endpoints median 0.25 s, p95 0.8 s.
_Z95 = 1.6449
BALANCE_MU, BALANCE_SIGMA = math.log(3000.0), math.log(11.0 / 3.0) / _Z95
OTHER_MU, OTHER_SIGMA = math.log(250.0), math.log(800.0 / 250.0) / _Z95


def make_rule(
    error_code: str,
    item_id: str | None = None,
    count: int | None = None,
    endpoint: str | None = None,
) -> dict[str, Any]:
    """Validate and return a new fault rule."""
    if error_code not in CATALOGUE and error_code not in SPECIAL:
        raise invalid_field(f"unknown error_code {error_code!r}")
    if count is not None and (not isinstance(count, int) or count < 1):
        raise invalid_field("count must be a positive integer")
    if endpoint is not None and not endpoint.startswith("/"):
        endpoint = "/" + endpoint
    return {
        "id": str(uuid.uuid4()),
        "error_code": error_code,
        "item_id": item_id,
        "count": count,
        "endpoint": endpoint,
    }


def match(state: State, endpoint: str, item_id: str | None) -> str | None:
    """Return the error code of the first rule matching this request, or None.

    A rule with ``count`` is decremented and removed when it reaches zero.
    """
    if not state.faults:
        return None
    with state.lock:
        for rule in state.faults:
            if rule.get("endpoint") and rule["endpoint"] != endpoint:
                continue
            if rule.get("item_id") and rule["item_id"] != item_id:
                continue
            code: str = rule["error_code"]
            if rule.get("count") is not None:
                rule["count"] -= 1
                if rule["count"] <= 0:
                    state.faults.remove(rule)
                state.changed()
            return code
    return None


def latency_seconds(state: State, endpoint: str) -> float:
    """Return how long to delay this request under the current latency mode."""
    s = state.settings
    if s.latency_mode == "fixed":
        return max(s.latency_ms, 0.0) / 1000.0
    if s.latency_mode == "realistic":
        if endpoint == "/accounts/balance/get":
            return random.lognormvariate(BALANCE_MU, BALANCE_SIGMA) / 1000.0
        return random.lognormvariate(OTHER_MU, OTHER_SIGMA) / 1000.0
    return 0.0


def parse_latency(spec: str) -> tuple[str, float]:
    """Parse ``off``, ``realistic`` or ``fixed:250ms`` / ``fixed:1.5s`` into (mode, ms)."""
    if spec in ("off", "realistic"):
        return spec, 0.0
    if spec.startswith("fixed:"):
        value = spec[len("fixed:") :].strip().lower()
        if value.endswith("ms"):
            return "fixed", float(value[:-2])
        if value.endswith("s"):
            return "fixed", float(value[:-1]) * 1000.0
        return "fixed", float(value)
    raise ValueError(f"bad latency spec {spec!r}: use off, realistic or fixed:250ms")
