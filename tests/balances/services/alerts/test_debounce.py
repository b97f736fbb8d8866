"""`debounce`: the refreshes of one user within ALERT_EVALUATE_DELAY queue one evaluation,
run by the worker's task; a refresh storing while it runs queues another; a broker or
shared state that cannot be reached makes the worker evaluate after the refresh."""

from __future__ import annotations

from typing import Any

import pytest
from kombu.exceptions import OperationalError as KombuOperationalError

from balances import tasks
from balances.models import Alert, AlertMessage, PlaidItem
from balances.services import refresh
from balances.services.alerts import debounce, evaluate
from balances.shared_state import api as shared_state
from tests.conftest import FakePlaid, QueuedEvaluations
from tests.factories import PlaidItemFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def setup(settings: Any) -> None:
    settings.ALERT_EVALUATE_DELAY = 7
    settings.ALERT_GROUP_SECONDS = 0  # one message per evaluation that fires: no grouping
    refresh._kept.clear()


def banks(fake_plaid: FakePlaid, user: Any, *names: str) -> list[PlaidItem]:
    items = [PlaidItemFactory(owner=user, institution_name=name) for name in names]
    for item in items:
        fake_plaid.add_item(item.access_token)
    return items


def titles(user: Any) -> list[str]:
    return sorted(Alert.objects.filter(owner=user).values_list("title", flat=True))


def test_the_refreshes_of_one_user_within_the_delay_queue_one_evaluation(
    fake_plaid: FakePlaid,
    queued_evaluations: QueuedEvaluations,
    django_capture_on_commit_callbacks: Any,
) -> None:
    user = UserFactory(email="hal@example.com")
    wombat, koala, emu = banks(fake_plaid, user, "Wombat", "Koala", "Emu")
    other = banks(fake_plaid, UserFactory(), "Dingo")[0]
    outcomes = []
    with django_capture_on_commit_callbacks(execute=True):
        for item in (wombat, koala, other, emu):
            if item != emu:
                fake_plaid.fail_next("ITEM_LOGIN_REQUIRED")
            outcomes.append(str(refresh.item_refresh_run(item_id=item.pk)))
    assert outcomes == ["failed: ITEM_LOGIN_REQUIRED"] * 3 + ["ok: 5 accounts"]
    # One evaluation per user, in the worker, after the delay; none ran in the refreshes.
    assert queued_evaluations.tasks == [(user.pk, 7.0), (other.owner_id, 7.0)]
    assert not Alert.objects.exists()

    with django_capture_on_commit_callbacks(execute=True):
        assert queued_evaluations.run() == [2, 1]
    assert titles(user) == [
        "Koala needs you to log in again",
        "Wombat needs you to log in again",
    ]
    # Both fired in the one evaluation: one message (grouping is off).
    assert AlertMessage.objects.filter(owner=user).count() == 1
    # The evaluation started: the next refresh of the user queues the next one.
    with django_capture_on_commit_callbacks(execute=True):
        refresh.item_refresh_run(item_id=emu.pk)
    assert queued_evaluations.user_ids == [user.pk]


def test_a_refresh_storing_while_an_evaluation_runs_queues_another(
    fake_plaid: FakePlaid,
    queued_evaluations: QueuedEvaluations,
    django_capture_on_commit_callbacks: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    user = UserFactory()
    wombat, koala = banks(fake_plaid, user, "Wombat", "Koala")
    with django_capture_on_commit_callbacks(execute=True):
        refresh.item_refresh_run(item_id=wombat.pk)
    assert queued_evaluations.user_ids == [user.pk]
    queued_evaluations.tasks.clear()

    real = evaluate._conditions
    during = []

    def conditions_then_a_refresh(user_id: int, now: Any) -> Any:
        read = real(user_id, now)
        # Koala's refresh fails and stores its status after this evaluation read the Items.
        fake_plaid.fail_next("ITEM_LOGIN_REQUIRED")
        during.append(str(refresh.item_refresh_run(item_id=koala.pk)))
        return read

    monkeypatch.setattr(evaluate, "_conditions", conditions_then_a_refresh)
    with django_capture_on_commit_callbacks(execute=True):
        assert tasks.alerts_evaluate(user.pk) == 0  # read before Koala's failure
    assert during == ["failed: ITEM_LOGIN_REQUIRED"]
    assert queued_evaluations.user_ids == [user.pk]  # the mark was cleared before the reads

    monkeypatch.setattr(evaluate, "_conditions", real)
    with django_capture_on_commit_callbacks(execute=True):
        assert queued_evaluations.run() == [1]
    assert titles(user) == ["Koala needs you to log in again"]


def test_a_broker_that_cannot_be_reached_makes_the_worker_evaluate_after_the_refresh(
    fake_plaid: FakePlaid, django_capture_on_commit_callbacks: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    user = UserFactory()
    (wombat,) = banks(fake_plaid, user, "Wombat")
    attempts = []

    def broker_down(args: Any, countdown: float = 0, **kw: Any) -> None:
        attempts.append((args, countdown))
        raise KombuOperationalError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    monkeypatch.setattr(tasks.alerts_evaluate, "apply_async", broker_down)
    fake_plaid.fail_next("ITEM_LOGIN_REQUIRED")
    with django_capture_on_commit_callbacks(execute=True):
        outcome = refresh.item_refresh_run(item_id=wombat.pk)
    assert str(outcome) == "failed: ITEM_LOGIN_REQUIRED"  # the refresh's outcome stands
    assert attempts == [((user.pk,), 7.0)]
    assert titles(user) == ["Wombat needs you to log in again"]  # evaluated in its stead
    # Its mark is gone: the next refresh tries to queue again.
    PlaidItem.objects.filter(pk=wombat.pk).update(status=PlaidItem.Status.HEALTHY)
    with django_capture_on_commit_callbacks(execute=True):
        assert str(refresh.item_refresh_run(item_id=wombat.pk)).startswith("ok")
    assert len(attempts) == 2


def test_shared_state_that_cannot_be_reached_makes_the_worker_evaluate_after_the_refresh(
    fake_plaid: FakePlaid,
    queued_evaluations: QueuedEvaluations,
    django_capture_on_commit_callbacks: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    user = UserFactory()
    (wombat,) = banks(fake_plaid, user, "Wombat")

    def down(user_id: int, ttl: float) -> bool:
        raise shared_state.SharedStateUnavailable("Redis is restarting")

    monkeypatch.setattr(shared_state, "alerts_evaluation_mark", down)
    fake_plaid.fail_next("ITEM_LOGIN_REQUIRED")
    with django_capture_on_commit_callbacks(execute=True):
        outcome = refresh.item_refresh_run(item_id=wombat.pk)
    assert str(outcome) == "failed: ITEM_LOGIN_REQUIRED"
    assert queued_evaluations.tasks == []
    assert titles(user) == ["Wombat needs you to log in again"]


def test_the_mark_lasts_the_delay_and_a_grace_then_lets_another_be_queued(
    fake_plaid: FakePlaid,
    queued_evaluations: QueuedEvaluations,
    django_capture_on_commit_callbacks: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    user = UserFactory()
    (wombat,) = banks(fake_plaid, user, "Wombat")
    ttls = []
    real = shared_state.alerts_evaluation_mark

    def mark(user_id: int, ttl: float) -> bool:
        ttls.append(ttl)
        return real(user_id, ttl)

    monkeypatch.setattr(shared_state, "alerts_evaluation_mark", mark)
    with django_capture_on_commit_callbacks(execute=True):
        refresh.item_refresh_run(item_id=wombat.pk)
    assert ttls == [67.0]  # 7 s of delay and a minute's grace
    debounce._due.clear()  # half the delay passed: this process asks the mark again
    with django_capture_on_commit_callbacks(execute=True):
        refresh.item_refresh_run(item_id=wombat.pk)
    assert ttls == [67.0, 67.0]
    assert queued_evaluations.user_ids == [user.pk]  # marked: nothing more queued
    # Its task lost with a worker: once the mark lapses, a refresh queues another.
    shared_state.store().delete(shared_state._key("alerts-evaluate", user.pk))
    debounce._due.clear()
    with django_capture_on_commit_callbacks(execute=True):
        refresh.item_refresh_run(item_id=wombat.pk)
    assert queued_evaluations.user_ids == [user.pk, user.pk]


def test_the_refreshes_this_process_runs_within_half_the_delay_skip_the_marks_round_trip(
    fake_plaid: FakePlaid,
    queued_evaluations: QueuedEvaluations,
    django_capture_on_commit_callbacks: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    user = UserFactory()
    items = banks(fake_plaid, user, "Wombat", "Koala", "Emu")
    marks = []
    real = shared_state.alerts_evaluation_mark

    def mark(user_id: int, ttl: float) -> bool:
        marks.append(user_id)
        return real(user_id, ttl)

    monkeypatch.setattr(shared_state, "alerts_evaluation_mark", mark)
    clock = [1000.0]
    monkeypatch.setattr(debounce.time, "monotonic", lambda: clock[0])
    for item in items:
        with django_capture_on_commit_callbacks(execute=True):
            refresh.item_refresh_run(item_id=item.pk)
    assert marks == [user.pk] and queued_evaluations.user_ids == [user.pk]
    clock[0] += 3.5  # half the delay (7 s) passed: the mark is asked again
    with django_capture_on_commit_callbacks(execute=True):
        refresh.item_refresh_run(item_id=items[0].pk)
    assert marks == [user.pk] * 2 and queued_evaluations.user_ids == [user.pk]
    # The evaluation starting here forgets it at once: the next refresh marks and queues.
    queued_evaluations.run()
    with django_capture_on_commit_callbacks(execute=True):
        refresh.item_refresh_run(item_id=items[1].pk)
    assert marks == [user.pk] * 3 and queued_evaluations.user_ids == [user.pk]
