"""One evaluation of a user's alerts per burst of refreshes: the burst's last refresh runs it.

A refresh that stored or failed (or was skipped) ends its Item's pending mark
(`services/pending.py`), then asks whether another of the owner's Items still has a
refresh pending (`selectors.items.other_refresh_pending`). If one has, it does nothing:
that refresh ends later and asks in turn. If none has, this refresh was the burst's last
(a household's banks in one fan-out, "Refresh now" of all of them, or a lone refresh), and
it evaluates the owner's alerts there and then, in the worker, after every change of the
burst stored. The alerts the burst causes fire in that one evaluation, so they go out as
one message whatever ALERT_GROUP_SECONDS is.

Race: two refreshes of one user ending at once. Each ends its own mark (committed) before
it reads the others', so the later of the two reads sees the earlier one's ended: at
least one evaluates; if both do, the user's lock in `evaluate.py` keeps an alert from
firing twice. A refresh whose task was lost keeps its Item pending until
BALANCE_REFRESH_PENDING_TTL: until then its user's other refreshes leave the evaluation
to it, and the next burst (or beat's sweep, for connections not refreshed) evaluates.

Cost per refresh: one plain SELECT of the owner's Items with a refresh request (no
publish, no message, no shared state); per burst, one evaluation (bench/alerts.py).
"""

from __future__ import annotations

from balances.selectors import items as item_selectors
from balances.services.alerts import evaluate


def user_alerts_after_refresh(*, user_id: int, item_id: int) -> int | None:
    """Evaluate the user's alerts if no other of their Items has a refresh pending (the
    refresh of `item_id`, ended, was its burst's last); return how many fired, or None
    when another refresh of the burst is still to end (it evaluates then)."""
    if item_selectors.other_refresh_pending(user_id=user_id, item_id=item_id):
        return None
    return evaluate.user_alerts_evaluate(user_id=user_id)
