"""Implement the control endpoints under ``/emulator/`` (outside Plaid's paths).

All need the emulator's client id and secret (headers or body), like the API.
``handle(emu, method, path, body) -> reply`` raises ``PlaidAPIError`` on bad input.
"""

from __future__ import annotations

from typing import Any

from .core import Emulator
from .errors import PlaidAPIError, invalid_field, missing_fields
from .faults import make_rule


def _faults_post(emu: Emulator, body: dict[str, Any]) -> dict[str, Any]:
    code = body.get("error_code")
    if not isinstance(code, str) or not code:
        raise missing_fields("error_code")
    item_id = body.get("item_id")
    if body.get("access_token"):
        item_id = emu.item_for_token(body["access_token"]).item_id
    rule = make_rule(code, item_id=item_id, count=body.get("count"), endpoint=body.get("endpoint"))
    with emu.state.lock:
        emu.state.faults.append(rule)
    emu.state.changed()
    return {"fault": rule}


def _faults_delete(emu: Emulator, body: dict[str, Any]) -> dict[str, Any]:
    fid = body.get("id")
    with emu.state.lock:
        before = len(emu.state.faults)
        emu.state.faults[:] = [f for f in emu.state.faults if fid and f["id"] != fid]
        removed = before - len(emu.state.faults)
    emu.state.changed()
    return {"removed": removed}


def _latency(emu: Emulator, body: dict[str, Any]) -> dict[str, Any]:
    mode = body.get("mode", "fixed" if "ms" in body else None)
    if mode not in ("off", "fixed", "realistic"):
        raise invalid_field("mode must be off, fixed or realistic")
    ms = body.get("ms", 0)
    if not isinstance(ms, (int, float)) or ms < 0:
        raise invalid_field("ms must be a non-negative number")
    with emu.state.lock:
        emu.state.settings.latency_mode = mode
        emu.state.settings.latency_ms = float(ms)
    emu.state.changed()
    return {"mode": mode, "ms": float(ms)}


def _freeze(emu: Emulator, body: dict[str, Any]) -> dict[str, Any]:
    frozen = body.get("frozen", True)
    if not isinstance(frozen, bool):
        raise invalid_field("frozen must be a boolean")
    emu.state.settings.frozen = frozen
    emu.state.changed()
    return {"frozen": frozen}


def _rate_limits(emu: Emulator, body: dict[str, Any]) -> dict[str, Any]:
    mode = body.get("mode")
    if mode not in ("off", "sandbox", "production"):
        raise invalid_field("mode must be off, sandbox or production")
    emu.state.settings.rate_limits = mode
    emu.limiter.reset()
    emu.state.changed()
    return {"mode": mode}


def _clock(emu: Emulator, body: dict[str, Any]) -> dict[str, Any]:
    adv = body.get("advance_seconds", 0)
    if not isinstance(adv, (int, float)) or isinstance(adv, bool):
        raise invalid_field("advance_seconds must be a number")
    with emu.state.lock:
        before = emu.state.now()
        emu.state.settings.clock_offset += float(adv)
        after = emu.state.now()
    emu.state.changed()
    sent = emu.transaction_updates(before, after) if emu.state.settings.transaction_updates else 0
    return {
        "now": after,
        "offset_seconds": emu.state.settings.clock_offset,
        "transaction_updates": sent,
    }


def _transaction_updates(emu: Emulator, body: dict[str, Any]) -> dict[str, Any]:
    enabled = body.get("enabled")
    if not isinstance(enabled, bool):
        raise invalid_field("enabled must be true or false")
    emu.state.settings.transaction_updates = enabled
    emu.state.changed()
    return {"enabled": enabled}


def _stats(emu: Emulator, body: dict[str, Any]) -> dict[str, Any]:
    with emu.stats_lock:
        counts = dict(emu.stats)
    return {
        "requests": counts,
        "total": sum(counts.values()),
        "items": len(emu.state.items),
        "webhooks": {"sent": emu.deliverer.sent, "failed": emu.deliverer.failed},
        "settings": vars(emu.state.settings).copy(),
        "faults": list(emu.state.faults),
    }


def _items(emu: Emulator, body: dict[str, Any]) -> dict[str, Any]:
    """List every Item made, removed ones too (never an access token)."""
    with emu.state.lock:
        items = [
            {
                "item_id": item.item_id,
                "institution_id": item.institution_id,
                "removed": item.removed,
                "masks": [a.mask for a in item.accounts],
            }
            for item in emu.state.items.values()
        ]
    return {"items": items}


def _webhooks(emu: Emulator, body: dict[str, Any]) -> dict[str, Any]:
    return {"deliveries": list(emu.deliverer.log)}


def _reset(emu: Emulator, body: dict[str, Any]) -> dict[str, Any]:
    emu.state.reset()
    emu.limiter.reset()
    with emu.stats_lock:
        emu.stats.clear()
    return {"reset": True}


ROUTES = {
    ("POST", "/emulator/faults"): _faults_post,
    ("GET", "/emulator/faults"): lambda emu, body: {"faults": list(emu.state.faults)},
    ("DELETE", "/emulator/faults"): _faults_delete,
    ("POST", "/emulator/latency"): _latency,
    ("POST", "/emulator/freeze"): _freeze,
    ("POST", "/emulator/rate-limits"): _rate_limits,
    ("POST", "/emulator/clock"): _clock,
    ("POST", "/emulator/transaction-updates"): _transaction_updates,
    ("GET", "/emulator/stats"): _stats,
    ("GET", "/emulator/webhooks"): _webhooks,
    ("GET", "/emulator/items"): _items,
    ("POST", "/emulator/reset"): _reset,
}


def handle(emu: Emulator, method: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
    """Run the control endpoint for ``method``/``path`` or raise NOT_FOUND."""
    fn = ROUTES.get((method, path))
    if fn is None:
        raise PlaidAPIError("NOT_FOUND", f"no control endpoint {method} {path}")
    result: dict[str, Any] = fn(emu, body)
    return result
