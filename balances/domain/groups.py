"""The dashboard's account groups: which Plaid account types each holds, in display order."""

from __future__ import annotations

from typing import Protocol


class Typed(Protocol):
    @property
    def type(self) -> str: ...


# Dashboard groups, in display order: (key, heading, Plaid account types in the group).
GROUPS: tuple[tuple[str, str, frozenset[str]], ...] = (
    ("depository", "Cash", frozenset({"depository"})),
    ("investment", "Investments", frozenset({"investment", "brokerage"})),
    ("credit", "Credit cards", frozenset({"credit"})),
    ("loan", "Loans", frozenset({"loan"})),
    ("other", "Other", frozenset()),
)
GROUP_OF_TYPE = {t: key for key, _, types in GROUPS for t in types}


# Groups whose balances are owed (Plaid reports them as positive amounts).
LIABILITY_GROUPS = frozenset({"credit", "loan"})


def group_key(account: Typed) -> str:
    """Return the dashboard group an account belongs to."""
    return GROUP_OF_TYPE.get(account.type, "other")


def group_label(key: str) -> str | None:
    """Return the heading of dashboard group `key` (None for an unknown key)."""
    return next((label for k, label, _ in GROUPS if k == key), None)
