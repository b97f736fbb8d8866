"""One evaluation of a user's alerts per burst of refreshes, run in the worker.

After each stored or failed refresh (`refresh.item_refresh_run`),
`user_alerts_queue_after_refresh` queues the `alerts_evaluate` task to run
ALERT_EVALUATE_DELAY seconds later, unless one is already queued for the user: a mark in
shared state (set if absent, with a TTL) says so. The Items of one user refreshed within
the delay (each of a household's banks in one fan-out, "Refresh now" of all of them) are
evaluated once, after they stored, instead of once per Item over all of the user's
accounts; and the alerts they cause fire in that one evaluation, so they go out as one
message whatever ALERT_GROUP_SECONDS is.

Race, and why the task clears the mark BEFORE it reads (`user_alerts_evaluate_queued`): a
refresh that stores while an evaluation runs finds no mark and queues another evaluation,
which sees its balances. Cleared after the reads instead, the mark would still be there
for a refresh storing between the reads and the clear: it would queue nothing, and its
change would wait for the next refresh or beat's sweep. Cost of this order: a refresh
storing between the clear and the reads causes one evaluation more than needed (its
change was already seen). Two evaluations of one user never fire one alert twice (they
take the user's lock to write, `evaluate.py`).

The other refreshes of a cycle run by the process that queued the evaluation skip even the
mark's round trip: for half the delay after publishing, the process remembers that an
evaluation is coming which cannot have started (`_due`; it runs after its countdown, and
half the delay leaves room for a worker whose clock runs ahead), so it will read after
them. The task forgets it when it starts in this process, as it clears the mark.

Failures: the mark lives at most the delay plus MARK_GRACE_SECONDS, so a task lost with
its worker (or held up behind a backlog) blocks nothing for long: the next refresh queues
another (a backlog longer than that costs a second evaluation, nothing else). A task that
cannot be queued (the broker unreachable) is replaced by evaluating here, in the worker
that ran the refresh, as does a mark that cannot be set (shared state unreachable). Beat's
alert sweep evaluates every user anyway (`sweep.py`).

Cost per refresh: one shared-state round trip (the mark), none for a refresh within half
the delay of an evaluation this process queued; per burst, one publish (about 1 ms of
CPU: kombu builds a Redis client per message) and then one evaluation (four reads when
nothing changes; bench/alerts.py).
"""

from __future__ import annotations

import contextlib
import logging
import time
from functools import partial

from django.conf import settings
from django.db import transaction

from balances.services.alerts import evaluate
from balances.shared_state import api as shared_state

logger = logging.getLogger(__name__)

# How long past its countdown a queued evaluation may wait for a worker before its mark
# lapses (and a refresh may queue another).
MARK_GRACE_SECONDS = 60.0

# Evaluations this process queued, by user: the monotonic time until which each cannot
# have started (half its countdown). Read and written by the worker's threads: each
# operation is one dict step (atomic under the GIL); a lost entry costs a round trip.
_due: dict[int, float] = {}


def user_alerts_queue_after_refresh(*, user_id: int) -> None:
    """Queue one evaluation of the user's alerts, ALERT_EVALUATE_DELAY seconds from the
    commit, unless one is queued already; evaluate them now when it cannot be queued.

    For the worker, after a refresh of one of the user's Items stored or failed (never a
    web request: the fallback evaluates in the caller). Raises what the fallback
    evaluation raises.
    """
    delay = max(0.0, float(settings.ALERT_EVALUATE_DELAY))
    if time.monotonic() < _due.get(user_id, 0.0):
        return  # queued here and not started: it reads after this refresh
    try:
        marked = shared_state.alerts_evaluation_mark(user_id, delay + MARK_GRACE_SECONDS)
    except shared_state.SharedStateUnavailable:
        logger.warning(
            "User %s: shared state unreachable; alerts evaluated after this refresh",
            user_id,
            exc_info=True,
        )
        evaluate.user_alerts_evaluate(user_id=user_id)
        return
    if not marked:
        return  # one is queued and has not started reading: it sees this refresh
    transaction.on_commit(
        partial(_publish, user_id, delay), robust=transaction.get_connection().in_atomic_block
    )


def _publish(user_id: int, delay: float) -> None:
    from balances import tasks  # tasks sit above the services (see `services/queueing.py`)

    try:
        tasks.alerts_evaluate.apply_async(args=(user_id,), countdown=delay)
        _remember(user_id, time.monotonic() + delay / 2)
    except Exception:
        # Whatever stopped the publish (kombu's OperationalError for a broker down), no
        # evaluation comes: evaluate here, mark cleared first (the race above).
        logger.warning(
            "User %s: alerts evaluation not queued (broker unreachable); evaluated here",
            user_id,
            exc_info=True,
        )
        with contextlib.suppress(shared_state.SharedStateUnavailable):
            shared_state.alerts_evaluation_unmark(user_id)
        evaluate.user_alerts_evaluate(user_id=user_id)


def user_alerts_evaluate_queued(*, user_id: int) -> int:
    """Clear the user's mark, then evaluate their alerts; return how many fired.

    What the `alerts_evaluate` task runs (queued after a refresh or a webhook). The mark is
    cleared before anything is read (the race in the module's docstring); when shared state
    is unreachable it is left to expire.
    """
    _due.pop(user_id, None)
    try:
        shared_state.alerts_evaluation_unmark(user_id)
    except shared_state.SharedStateUnavailable:
        logger.warning("User %s: alerts mark not cleared; it expires on its own", user_id)
    return evaluate.user_alerts_evaluate(user_id=user_id)


def _remember(user_id: int, until: float) -> None:
    if len(_due) > 10_000:  # users whose evaluations were queued long ago: forget them
        now = time.monotonic()
        for key, when in list(_due.items()):
            if when <= now:
                _due.pop(key, None)
    _due[user_id] = until
