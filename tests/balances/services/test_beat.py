"""`balances.services.beat`: beat's fan-out runs once per interval, records when it ran
(what `/healthz/` reads), and a fan-out delivered again finishes its cycle."""

from datetime import timedelta

import pytest
from django.utils import timezone

from balances.models import BeatRun, PlaidItem
from balances.services import beat, queueing
from tests.factories import PlaidItemFactory

pytestmark = pytest.mark.django_db


def test_run_record_is_one_row_per_task_updated_in_place():
    first = beat.beat_run_record(task=BeatRun.FANOUT, items_queued=3)
    assert first.items_queued == 3
    assert timezone.now() - first.ran_at < timedelta(seconds=60)
    second = beat.beat_run_record(task=BeatRun.FANOUT)
    assert second.pk == first.pk and second.items_queued == 0
    assert second.ran_at >= first.ran_at
    beat.beat_run_record(task=BeatRun.BEAT_STARTED)
    assert BeatRun.objects.count() == 2


def test_claim_once_per_interval(settings):
    settings.BALANCE_REFRESH_INTERVAL = 3600
    cycle = beat.fanout_claim()  # the very first fan-out creates the row
    assert cycle is not None
    assert beat.fanout_claim() is None  # a second beat
    assert beat.fanout_claim(resume=True) == cycle  # the same fan-out, delivered again
    # 0.9 interval on, the next fan-out claims a new cycle.
    BeatRun.objects.filter(task=BeatRun.FANOUT).update(ran_at=cycle - timedelta(seconds=3240))
    later = beat.fanout_claim()
    assert later is not None and later > cycle
    run = BeatRun.objects.get(task=BeatRun.FANOUT)
    assert (run.ran_at, run.items_queued) == (later, 0)


def test_fan_out_records_its_run_and_runs_once_per_interval(
    settings, queued_refreshes, django_capture_on_commit_callbacks
):
    settings.BALANCE_REFRESH_INTERVAL = 3600
    first = PlaidItemFactory()
    with django_capture_on_commit_callbacks(execute=True):
        assert beat.items_fanout() == 1
    assert queued_refreshes.item_ids == [first.pk]
    run = BeatRun.objects.get(task=BeatRun.FANOUT)
    assert run.items_queued == 1
    assert timezone.now() - run.ran_at < timedelta(seconds=60)
    # A second beat fires half an interval later: nothing queued, the first run stands.
    second = PlaidItemFactory()
    assert beat.items_fanout() is None
    assert BeatRun.objects.get(task=BeatRun.FANOUT) == run
    assert BeatRun.objects.get(task=BeatRun.FANOUT).items_queued == 1
    # 0.9 interval on, the next fan-out runs.
    BeatRun.objects.filter(pk=run.pk).update(ran_at=run.ran_at - timedelta(seconds=3240))
    with django_capture_on_commit_callbacks(execute=True):
        assert beat.items_fanout() == 1  # the new Item; the first is still pending
    assert queued_refreshes.item_ids == [first.pk, second.pk]
    assert BeatRun.objects.get(task=BeatRun.FANOUT).ran_at > run.ran_at


def test_fan_out_queues_only_active_items(settings, queued_refreshes):
    settings.BALANCE_REFRESH_INTERVAL = 3600
    healthy = PlaidItemFactory(status=PlaidItem.Status.HEALTHY)
    erroring = PlaidItemFactory(status=PlaidItem.Status.ERROR)
    PlaidItemFactory(status=PlaidItem.Status.LOGIN_REQUIRED)
    PlaidItemFactory(status=PlaidItem.Status.REVOKED)
    assert beat.items_fanout() == 2
    assert {
        pk
        for pk in PlaidItem.objects.filter(refresh_requested_at__isnull=False).values_list(
            "pk", flat=True
        )
    } == {healthy.pk, erroring.pk}


def test_fan_out_delivered_again_finishes_the_cycle(
    settings, queued_refreshes, django_capture_on_commit_callbacks
):
    """Its worker died mid fan-out: the redelivered fan-out queues the rest, nothing twice."""
    settings.BALANCE_REFRESH_INTERVAL = 3600
    cycle = timezone.now() - timedelta(minutes=5)
    BeatRun.objects.create(task=BeatRun.FANOUT, ran_at=cycle, items_queued=1)
    done = PlaidItemFactory(last_refreshed_at=cycle + timedelta(minutes=1))
    before = PlaidItemFactory(last_refreshed_at=cycle - timedelta(hours=1))
    never = PlaidItemFactory(last_refreshed_at=None)
    assert beat.items_fanout() is None  # a second beat: skipped
    with django_capture_on_commit_callbacks(execute=True):
        assert beat.items_fanout(resume=True) == 2
    queued = queued_refreshes.item_ids
    assert sorted(queued) == sorted([before.pk, never.pk]) and done.pk not in queued
    run = BeatRun.objects.get(task=BeatRun.FANOUT)
    assert (run.ran_at, run.items_queued) == (cycle, 3)


def test_fan_out_delivered_again_never_queues_what_the_first_copy_refreshed(
    settings, queued_refreshes, django_capture_on_commit_callbacks, monkeypatch
):
    """Delivered again while the first copy still runs: its list of Items was read before
    some of the first copy's refreshes ended; those Items are not queued (billed) again."""
    settings.BALANCE_REFRESH_INTERVAL = 3600
    cycle = timezone.now() - timedelta(seconds=5)
    BeatRun.objects.create(task=BeatRun.FANOUT, ran_at=cycle, items_queued=2)
    refreshed, waiting = PlaidItemFactory(), PlaidItemFactory()
    real = queueing.items_queue_refresh

    def first_copy_refreshes_one(**kwargs):
        items = list(kwargs.pop("items"))  # read now, as the fan-out's query is
        PlaidItem.objects.filter(pk=refreshed.pk).update(last_refreshed_at=timezone.now())
        return real(items=items, **kwargs)

    monkeypatch.setattr(beat.queueing, "items_queue_refresh", first_copy_refreshes_one)
    with django_capture_on_commit_callbacks(execute=True):
        assert beat.items_fanout(resume=True) == 1
    assert queued_refreshes.item_ids == [waiting.pk]


def test_fanout_done_adds_to_the_cycles_count():
    beat.beat_run_record(task=BeatRun.FANOUT, items_queued=2)
    beat.fanout_done(items_queued=3)
    beat.fanout_done(items_queued=0)
    assert BeatRun.objects.get(task=BeatRun.FANOUT).items_queued == 5
