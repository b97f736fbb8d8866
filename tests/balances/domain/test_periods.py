"""`balances.domain.periods`: the days chart ranges and change periods start on."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from balances.domain import periods

TODAY = date(2026, 3, 31)


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("1w", date(2026, 3, 24)),
        ("1m", date(2026, 2, 28)),  # clamped: there is no Feb 31
        ("3m", date(2025, 12, 31)),
        ("1y", date(2025, 3, 31)),
    ],
)
def test_period_start(key, expected):
    assert periods.period_start(key, today=TODAY) == expected


def test_period_start_clamps_to_a_leap_day_and_crosses_years():
    assert periods.period_start("1m", today=date(2028, 3, 30)) == date(2028, 2, 29)
    assert periods.period_start("3m", today=date(2026, 1, 15)) == date(2025, 10, 15)
    assert periods.period_start("1y", today=date(2028, 2, 29)) == date(2027, 2, 28)


def test_range_start():
    assert periods.range_start("30d", today=TODAY) == date(2026, 3, 2)
    assert periods.range_start("1y", today=TODAY) == TODAY - timedelta(days=364)
    assert periods.range_start("all", today=TODAY) is None


def test_defaults_are_known_keys():
    assert periods.DEFAULT_RANGE in periods.RANGES
    assert periods.DEFAULT_PERIOD in periods.PERIODS
