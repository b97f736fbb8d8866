"""One alert condition of one subject, as an evaluation found it (`evaluate.py` makes them,
`record.py` records those that fire)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import timedelta


@dataclass(frozen=True, slots=True)
class Condition:
    """One alert condition of one subject, evaluated now (texts filled when it holds)."""

    key: str
    holding: bool
    title: str = ""
    text: str = ""
    link: str = ""
    link_label: str = ""
    cooldown: timedelta = timedelta(0)
    rule_id: int | None = None
    item_id: int | None = None
    account_id: int | None = None
    # (title, text) made on demand: only a condition that fires needs its words, and the
    # words (formatted amounts, times) cost more than the comparison that decided it.
    words: Callable[[], tuple[str, str]] | None = None

    def filled(self) -> Condition:
        """This condition with its title and text made (itself if it has them)."""
        if self.words is None:
            return self
        title, text = self.words()
        return replace(self, title=title, text=text, words=None)
