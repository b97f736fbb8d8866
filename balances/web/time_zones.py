"""Each signed-in user sees times in their own zone: a middleware that activates it.

The zone is read once a session (at login, or on the first request of a session from
before this) and kept in the session, so a page costs no query for it. Settings writes the
session again when the user changes it. Everyone else sees the site's TIME_ZONE.
"""

from __future__ import annotations

import zoneinfo
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.contrib.auth.signals import user_logged_in
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse
from django.utils import timezone

from balances.selectors import accounts

SESSION_KEY = "balances_time_zone"


def remember_time_zone(request: HttpRequest, name: str) -> None:
    """Keep `name` ("" for the site's zone) in the session, for the next requests."""
    request.session[SESSION_KEY] = name


@receiver(user_logged_in)
def _read_zone_at_login(sender: Any, request: HttpRequest | None, user: Any, **kwargs: Any) -> None:
    if request is not None and hasattr(request, "session"):
        remember_time_zone(request, accounts.time_zone_for(user=user))


def active_zone_name(request: HttpRequest) -> str:
    """Return the IANA name of the zone `request`'s pages show times in."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return str(settings.TIME_ZONE)
    name = request.session.get(SESSION_KEY)
    if name is None:  # a session from before time zones: read once, then kept
        name = accounts.time_zone_for(user=user)
        remember_time_zone(request, name)
    return str(name or settings.TIME_ZONE)


class TimeZoneMiddleware:
    """Activate the signed-in user's time zone for the request (the admin's pages too)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        try:
            zone = zoneinfo.ZoneInfo(active_zone_name(request))
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            # A zone this machine no longer knows (tzdata changed): the site's, not a 500.
            zone = zoneinfo.ZoneInfo(str(settings.TIME_ZONE))
        timezone.activate(zone)
        try:
            return self.get_response(request)
        finally:
            timezone.deactivate()
