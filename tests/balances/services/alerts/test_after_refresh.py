"""`after_refresh`: a user's refreshes pending together (a fan-out, "Refresh now" of all
their banks) cause one evaluation, run by the last of them to end; a lone refresh
evaluates as it ends; a refresh still pending holds it, a lost one only until its mark
expires; two ending at once never fire an alert twice."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from balances.models import Alert, AlertMessage, PlaidItem
from balances.services import pending, refresh
from balances.services.alerts import evaluate
from tests.conftest import FakePlaid
from tests.factories import PlaidItemFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def setup(settings: Any) -> None:
    settings.ALERT_GROUP_SECONDS = 0  # one message per evaluation that fires: no grouping
    refresh._kept.clear()


@pytest.fixture
def evaluations(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The users whose alerts were evaluated, in order."""
    seen: list[int] = []
    real = evaluate.user_alerts_evaluate

    def spy(*, user_id: int, now: Any = None) -> int:
        seen.append(user_id)
        return real(user_id=user_id, now=now)

    monkeypatch.setattr(evaluate, "user_alerts_evaluate", spy)
    return seen


def banks(fake_plaid: FakePlaid, user: Any, *names: str) -> list[PlaidItem]:
    items = [PlaidItemFactory(owner=user, institution_name=name) for name in names]
    for item in items:
        fake_plaid.add_item(item.access_token)
    return items


def queued(*items: PlaidItem) -> None:
    """Mark the Items' refreshes pending, as queueing them does (the fan-out, Refresh now)."""
    for item in items:
        assert pending.item_pending_mark(item_id=item.pk) is not None


def run(item: PlaidItem, captured: Any) -> str:
    with captured(execute=True):
        return str(refresh.item_refresh_run(item_id=item.pk))


def titles(user: Any) -> list[str]:
    return sorted(Alert.objects.filter(owner=user).values_list("title", flat=True))


def test_a_burst_is_evaluated_once_by_its_last_refresh(
    fake_plaid: FakePlaid, evaluations: list[int], django_capture_on_commit_callbacks: Any
) -> None:
    user = UserFactory(email="hal@example.com")
    wombat, koala, emu = banks(fake_plaid, user, "Wombat", "Koala", "Emu")
    (dingo,) = banks(fake_plaid, UserFactory(), "Dingo")
    queued(wombat, koala, emu, dingo)
    fake_plaid.fail_next("ITEM_LOGIN_REQUIRED")
    assert run(wombat, django_capture_on_commit_callbacks) == "failed: ITEM_LOGIN_REQUIRED"
    fake_plaid.fail_next("ITEM_LOGIN_REQUIRED")
    assert run(koala, django_capture_on_commit_callbacks) == "failed: ITEM_LOGIN_REQUIRED"
    assert evaluations == [] and not Alert.objects.exists()  # Emu is still to end
    assert run(dingo, django_capture_on_commit_callbacks).startswith("ok")
    assert evaluations == [dingo.owner_id]  # another user's burst of one
    assert run(emu, django_capture_on_commit_callbacks).startswith("ok")
    assert evaluations == [dingo.owner_id, user.pk]
    assert titles(user) == [
        "Koala needs you to log in again",
        "Wombat needs you to log in again",
    ]
    # Both fired in the one evaluation: one message (grouping is off).
    assert AlertMessage.objects.filter(owner=user).count() == 1


def test_a_lone_refresh_evaluates_as_it_ends(
    fake_plaid: FakePlaid, evaluations: list[int], django_capture_on_commit_callbacks: Any
) -> None:
    user = UserFactory()
    wombat, _koala = banks(fake_plaid, user, "Wombat", "Koala")  # Koala not queued
    queued(wombat)
    fake_plaid.fail_next("ITEM_LOGIN_REQUIRED")
    run(wombat, django_capture_on_commit_callbacks)
    assert evaluations == [user.pk]
    assert titles(user) == ["Wombat needs you to log in again"]


def test_a_refresh_waiting_for_a_retry_holds_the_evaluation_until_it_ends(
    fake_plaid: FakePlaid, evaluations: list[int], django_capture_on_commit_callbacks: Any
) -> None:
    user = UserFactory()
    wombat, koala = banks(fake_plaid, user, "Wombat", "Koala")
    queued(wombat, koala)
    fake_plaid.fail_next("INTERNAL_SERVER_ERROR", retryable=True, status=500)
    assert run(koala, django_capture_on_commit_callbacks).startswith("retry")
    fake_plaid.fail_next("ITEM_LOGIN_REQUIRED")
    run(wombat, django_capture_on_commit_callbacks)
    assert evaluations == []  # Koala's retry is still pending
    assert run(koala, django_capture_on_commit_callbacks).startswith("ok")
    assert evaluations == [user.pk]
    assert titles(user) == ["Wombat needs you to log in again"]


def test_a_skipped_refresh_that_ends_a_burst_evaluates_it(
    fake_plaid: FakePlaid, evaluations: list[int], django_capture_on_commit_callbacks: Any
) -> None:
    user = UserFactory()
    wombat, koala = banks(fake_plaid, user, "Wombat", "Koala")
    queued(wombat, koala)
    fake_plaid.fail_next("ITEM_LOGIN_REQUIRED")
    run(wombat, django_capture_on_commit_callbacks)
    # Koala's access was revoked (a webhook) while its refresh waited in the queue.
    PlaidItem.objects.filter(pk=koala.pk).update(status=PlaidItem.Status.REVOKED)
    assert run(koala, django_capture_on_commit_callbacks) == "skipped"
    assert evaluations == [user.pk]
    assert titles(user) == ["Access to Koala was revoked", "Wombat needs you to log in again"]


def test_a_lost_refresh_holds_the_evaluation_only_until_its_mark_expires(
    fake_plaid: FakePlaid,
    evaluations: list[int],
    django_capture_on_commit_callbacks: Any,
    settings: Any,
) -> None:
    user = UserFactory()
    wombat, koala = banks(fake_plaid, user, "Wombat", "Koala")
    queued(wombat)
    too_old = timezone.now() - timedelta(seconds=settings.BALANCE_REFRESH_PENDING_TTL + 1)
    PlaidItem.objects.filter(pk=koala.pk).update(refresh_requested_at=too_old)
    fake_plaid.fail_next("ITEM_LOGIN_REQUIRED")
    run(wombat, django_capture_on_commit_callbacks)
    assert evaluations == [user.pk]


def test_two_refreshes_ending_at_once_evaluate_at_least_once_and_fire_once(
    fake_plaid: FakePlaid,
    evaluations: list[int],
    django_capture_on_commit_callbacks: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Both end their marks before either asks for the other's: both evaluate (the later
    one sees the earlier's mark ended whatever the order), the user's lock fires once."""
    user = UserFactory()
    wombat, koala = banks(fake_plaid, user, "Wombat", "Koala")
    queued(wombat, koala)
    asked: list[tuple[int, int]] = []
    real_after = refresh._alerts_after
    monkeypatch.setattr(refresh, "_alerts_after", lambda u, i: asked.append((u, i)))
    fake_plaid.fail_next("ITEM_LOGIN_REQUIRED")
    run(wombat, django_capture_on_commit_callbacks)
    fake_plaid.fail_next("ITEM_LOGIN_REQUIRED")
    run(koala, django_capture_on_commit_callbacks)
    assert evaluations == []
    for user_id, item_id in asked:
        real_after(user_id, item_id)
    assert evaluations == [user.pk, user.pk]
    assert titles(user) == [
        "Koala needs you to log in again",
        "Wombat needs you to log in again",
    ]
    assert AlertMessage.objects.filter(owner=user).count() == 1


def test_an_evaluation_that_fails_never_changes_the_refreshs_outcome(
    fake_plaid: FakePlaid,
    django_capture_on_commit_callbacks: Any,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    user = UserFactory()
    (wombat,) = banks(fake_plaid, user, "Wombat")

    def broken(*, user_id: int, now: Any = None) -> int:
        raise RuntimeError("the database went away")

    monkeypatch.setattr(evaluate, "user_alerts_evaluate", broken)
    fake_plaid.fail_next("ITEM_LOGIN_REQUIRED")
    assert run(wombat, django_capture_on_commit_callbacks) == "failed: ITEM_LOGIN_REQUIRED"
    assert f"User {user.pk}: alerts not evaluated after a refresh" in caplog.text
    assert PlaidItem.objects.get(pk=wombat.pk).status == PlaidItem.Status.LOGIN_REQUIRED
