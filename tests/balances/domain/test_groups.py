"""`balances.domain.groups`: which dashboard group each Plaid account type belongs to."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from balances.domain import groups


@pytest.mark.parametrize(
    ("account_type", "key"),
    [
        ("depository", "depository"),
        ("investment", "investment"),
        ("brokerage", "investment"),
        ("credit", "credit"),
        ("loan", "loan"),
        ("other", "other"),
        ("something-new", "other"),
    ],
)
def test_group_key(account_type, key):
    assert groups.group_key(SimpleNamespace(type=account_type)) == key


def test_group_labels_in_display_order():
    keys = [key for key, _, _ in groups.GROUPS]
    assert [groups.group_label(k) for k in keys] == [
        "Cash",
        "Investments",
        "Credit cards",
        "Loans",
        "Other",
    ]
    assert groups.group_label("nope") is None


def test_liability_groups_are_credit_and_loans():
    assert frozenset({"credit", "loan"}) == groups.LIABILITY_GROUPS
