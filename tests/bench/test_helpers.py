"""The benchmarks' pure helpers (bench/common.py): what their verdicts are computed with."""

from __future__ import annotations

import math

import pytest

from bench import common, history


def test_ideal_seconds_is_calls_times_latency_over_concurrency():
    assert common.ideal_seconds(calls=1000, mean_latency=0.25, concurrency=16) == 15.625


def test_max_in_window_counts_the_busiest_window():
    # 3 calls within one minute, the 4th 60 s after the first starts a new window.
    assert common.max_in_window([0.0, 10.0, 59.9, 60.0], 60.0) == 3
    assert common.max_in_window([5.0, 0.0, 1.0, 2.0], 60.0) == 4
    assert common.max_in_window([], 60.0) == 0


def test_percentile_interpolates():
    assert common.percentile([1.0, 2.0, 3.0, 4.0, 5.0], 50) == 3.0
    assert common.percentile([0.0, 10.0], 95) == pytest.approx(9.5)
    with pytest.raises(ValueError, match="no values"):
        common.percentile([], 50)


def test_ratio_of_zero_is_infinite():
    assert common.ratio(1.0, 0.0) == math.inf
    assert common.ratio(1.0, 4.0) == 0.25


def test_replace_section_replaces_only_its_own_section():
    doc = "# Benchmarks\n\n## A\n\nold a\n\n## B\n\nb\n"
    out = common.replace_section(doc, "A", "## A\n\nnew a\n")
    assert out == "# Benchmarks\n\n## A\n\nnew a\n\n## B\n\nb\n"
    added = common.replace_section(doc, "C", "## C\n\nc\n")
    assert added.endswith("## B\n\nb\n\n## C\n\nc\n")


def test_profile_shares_skip_idle_samples():
    raw = "\n".join(
        [
            "main (x.py:1);refresh_item_balances (balances/tasks.py:9);"
            "accounts_balance_get (balances/plaid/client.py:3) 30",
            "main (x.py:1);refresh_item_balances (balances/tasks.py:9);"
            "item_store_fetched (balances/services/store.py:9);"
            "item_store_balances (balances/services/store.py:5) 60",
            "main (x.py:1);refresh_item_balances (balances/tasks.py:9);"
            "item_lock_acquire (balances/shared_state/api.py:53) 10",
            "main (x.py:1);get (queue.py:171) 500",
        ]
    )
    shares = dict(common.profile_shares(raw))
    assert shares["Plaid SDK call (client.accounts_balance_get)"] == 0.3
    assert shares["call log and store (store.item_store_fetched)"] == 0.6
    assert shares["  of which store balances (store.item_store_balances)"] == 0.6
    assert shares["shared state: Redis round trips (balances/shared_state/)"] == 0.1
    assert shares["the task itself (refresh_item_balances)"] == 1.0


def test_history_allowance_is_days_plus_changes():
    assert history.expected_max_rows(30, 0) == 30
    assert history.expected_max_rows(30, 7) == 37
