"""Template helpers for alerts: the header's unread count."""

from __future__ import annotations

from typing import Any

from django import template

from balances.selectors import alerts as selectors

register = template.Library()


@register.simple_tag(takes_context=True)
def unread_alerts(context: dict[str, Any]) -> int:
    """The signed-in user's unread alerts (one COUNT on an index, once per request: a
    streamed page renders its header twice, `balances.web.streaming`; 0 when signed out)."""
    request = context.get("request")
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return 0
    cached: int | None = getattr(request, "_unread_alerts", None)
    if cached is None:
        cached = selectors.unread_count(user=user)
        request._unread_alerts = cached  # type: ignore[union-attr]
    return cached
