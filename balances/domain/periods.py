"""The chart's ranges and the net-worth change's periods, and the days they start on."""

from __future__ import annotations

import calendar
from datetime import date, timedelta

from django.utils import timezone

RANGES: dict[str, tuple[str, int | None]] = {
    "30d": ("30 days", 30),
    "90d": ("90 days", 90),
    "1y": ("1 year", 365),
    "all": ("All", None),
}
DEFAULT_RANGE = "90d"
# Change periods: (label, months back, days back).
PERIODS: dict[str, tuple[str, int, int]] = {
    "1w": ("1 week", 0, 7),
    "1m": ("1 month", 1, 0),
    "3m": ("3 months", 3, 0),
    "1y": ("1 year", 12, 0),
}
DEFAULT_PERIOD = "1m"


def range_start(key: str, *, today: date | None = None) -> date | None:
    """Return the first day of chart range `key` (None for all history)."""
    days = RANGES[key][1]
    today = today or timezone.localdate(timezone=timezone.get_default_timezone())
    return None if days is None else today - timedelta(days=days - 1)


def period_start(key: str, *, today: date | None = None) -> date:
    """Return the day whose closing net worth period `key` compares against.

    Months are calendar months, clamped to the month's last day (Mar 31 - 1m = Feb 28/29).
    """
    _label, months, days = PERIODS[key]
    today = today or timezone.localdate(timezone=timezone.get_default_timezone())
    if months:
        year, month = divmod(today.year * 12 + today.month - 1 - months, 12)
        last_day = calendar.monthrange(year, month + 1)[1]
        today = today.replace(year=year, month=month + 1, day=min(today.day, last_day))
    return today - timedelta(days=days)
