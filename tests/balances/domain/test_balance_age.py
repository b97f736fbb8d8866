"""`balance_age`: when a balance call carries min_last_updated_datetime (Capital One's
non-depository accounts), and when a balance shows its own time."""

from datetime import UTC, datetime, timedelta

import pytest

from balances.domain.balance_age import (
    CAPITAL_ONE,
    SAME_TIME,
    balance_as_of,
    min_last_updated_datetime,
    needs_min_last_updated,
)

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
DAY = timedelta(hours=24)


@pytest.mark.parametrize(
    ("institution_id", "types", "needed"),
    [
        (CAPITAL_ONE, ["depository", "credit"], True),
        (CAPITAL_ONE, ["credit"], True),
        (CAPITAL_ONE, ["loan"], True),
        (CAPITAL_ONE, [], True),  # the first refresh: no account known yet
        (CAPITAL_ONE, ["depository"], False),
        (CAPITAL_ONE, ["depository", "depository"], False),
        ("ins_3", ["depository", "credit"], False),
        ("ins_3", [], False),
        (None, ["credit"], False),
        ("", ["credit"], False),
    ],
)
def test_only_capital_one_with_a_non_depository_account_needs_it(institution_id, types, needed):
    assert needs_min_last_updated(institution_id=institution_id, account_types=types) is needed
    expected = NOW - DAY if needed else None
    got = min_last_updated_datetime(
        institution_id=institution_id, account_types=iter(types), now=NOW, max_age=DAY
    )
    assert got == expected


def test_the_oldest_accepted_is_timezone_aware_and_max_age_ago():
    got = min_last_updated_datetime(
        institution_id=CAPITAL_ONE, account_types=["credit"], now=NOW, max_age=timedelta(hours=6)
    )
    assert got == datetime(2026, 11, 30, 6, 0, tzinfo=UTC)
    assert got.tzinfo is not None


def test_a_naive_clock_is_refused():
    with pytest.raises(ValueError, match="timezone-aware"):
        min_last_updated_datetime(
            institution_id=CAPITAL_ONE,
            account_types=["credit"],
            now=NOW.replace(tzinfo=None),
            max_age=DAY,
        )


def test_a_balance_older_than_its_refresh_shows_its_own_time():
    hours_ago = NOW - timedelta(hours=6)
    assert balance_as_of(hours_ago, NOW) == hours_ago
    assert balance_as_of(NOW - SAME_TIME - timedelta(seconds=1), NOW) is not None


def test_a_balance_as_fresh_as_its_refresh_shows_none():
    assert balance_as_of(NOW, NOW) is None
    assert balance_as_of(NOW - SAME_TIME, NOW) is None  # the call's own duration
    assert balance_as_of(NOW + timedelta(seconds=3), NOW) is None  # clocks' skew
    assert balance_as_of(None, NOW) is None


def test_a_balance_without_a_refresh_time_shows_its_own():
    assert balance_as_of(NOW, None) == NOW
