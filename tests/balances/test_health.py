"""`/healthz/`: 503 without a database; broker, shared state or beat down is "degraded"
(200, or 503 with `?strict=1`)."""

from datetime import timedelta
from unittest import mock

import pytest
import redis
from django.db import OperationalError, connection
from django.utils import timezone

from balances import tasks
from balances.models import BeatRun
from balances.services.beat import beat_run_record
from finance.celery import _record_beat_start
from tests.conftest import require_service, tcp_open
from tests.factories import PlaidItemFactory

pytestmark = pytest.mark.django_db

REDIS_URL = "redis://127.0.0.1:6379/15"
# Nothing listens on port 1: connections are refused at once.
DEAD_REDIS = "redis://:s3cret-password@127.0.0.1:1/0"


def healthz(client, strict=False):
    response = client.get("/healthz/", {"strict": "1"} if strict else {})
    assert response["Content-Type"] == "application/json"
    assert "no-cache" in response["Cache-Control"]
    return response.status_code, response.json()


@pytest.fixture
def beat_ran():
    return beat_run_record(task=BeatRun.FANOUT, items_queued=3)


def test_healthy_without_login(client, beat_ran):
    status, body = healthz(client)
    assert status == 200, body
    assert body["status"] == "ok"
    checks = body["checks"]
    assert set(checks) == {"database", "broker", "shared_state", "beat"}
    assert checks["database"]["ok"] and checks["database"]["vendor"] == connection.vendor
    assert checks["broker"]["ok"] and checks["broker"]["kind"] == "memory"
    assert checks["beat"]["ok"] and checks["beat"]["items_queued"] == 3
    assert checks["beat"]["last_run_age_seconds"] < 60


def test_database_down_is_503(client, beat_ran):
    with mock.patch.object(connection, "cursor", side_effect=OperationalError("down")):
        status, body = healthz(client)
    assert status == 503
    assert body["status"] == "fail"
    assert body["checks"]["database"] == {
        "ok": False,
        "vendor": connection.vendor,
        "error": "django.db.utils.OperationalError",
        "ms": body["checks"]["database"]["ms"],
    }
    assert body["checks"]["beat"] == {"ok": False, "error": "no database"}


def test_redis_broker_down_is_degraded_and_names_no_secret(client, settings, beat_ran):
    settings.CELERY_BROKER_URL = DEAD_REDIS
    settings.THROTTLE_REDIS_URL = DEAD_REDIS
    assert healthz(client)[0] == 200
    response = client.get("/healthz/", {"strict": "1"})
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "degraded"
    assert body["checks"]["broker"]["ok"] is False
    assert body["checks"]["broker"]["kind"] == "redis"
    assert body["checks"]["broker"]["error"].startswith("redis.exceptions.")
    assert body["checks"]["shared_state"] == {
        "ok": False,
        "kind": "redis (the broker)",
        "ms": body["checks"]["shared_state"]["ms"],
    }
    text = response.content.decode()
    assert "s3cret" not in text and "127.0.0.1" not in text and ":1/" not in text


def test_separate_shared_state_redis_down_is_degraded(client, settings, beat_ran):
    settings.THROTTLE_REDIS_URL = DEAD_REDIS
    assert healthz(client)[0] == 200
    status, body = healthz(client, strict=True)
    assert status == 503
    assert body["status"] == "degraded"
    assert body["checks"]["broker"]["ok"] is True
    assert body["checks"]["shared_state"]["ok"] is False


def test_redis_broker_reports_queue_depth(client, settings, beat_ran):
    require_service("Redis", lambda: tcp_open("127.0.0.1", 6379), "nothing on 127.0.0.1:6379")
    queue = "healthz-test-queue"
    settings.CELERY_BROKER_URL = REDIS_URL
    settings.CELERY_TASK_DEFAULT_QUEUE = queue
    settings.THROTTLE_REDIS_URL = REDIS_URL
    r = redis.Redis.from_url(REDIS_URL)
    r.delete(queue, f"{queue}\x06\x169")
    try:
        r.lpush(queue, "a", "b", "c")
        r.lpush(f"{queue}\x06\x169", "d")  # a message at priority 9
        status, body = healthz(client)
    finally:
        r.delete(queue, f"{queue}\x06\x169")
    assert status == 200, body
    broker = body["checks"]["broker"]
    assert (broker["kind"], broker["queue"], broker["queue_depth"]) == ("redis", queue, 4)
    assert isinstance(broker["unacked"], int)
    assert body["checks"]["shared_state"] == {
        "ok": True,
        "kind": "redis (the broker)",
        "ms": body["checks"]["shared_state"]["ms"],
    }


def test_file_broker_is_named_and_counted(client, settings, tmp_path, beat_ran):
    (tmp_path / "one.msg").write_text("{}")
    (tmp_path / "two.msg").write_text("{}")
    settings.CELERY_BROKER_URL = "filesystem://"
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {"data_folder_in": str(tmp_path)}
    status, body = healthz(client)
    assert status == 200, body
    assert body["checks"]["broker"]["kind"] == "file broker"
    assert body["checks"]["broker"]["queue_depth"] == 2
    assert body["checks"]["shared_state"]["kind"] == "file (this machine only)"


def test_beat_overdue_is_degraded(client, settings):
    settings.BEAT_OVERDUE_AFTER = 3 * 3600
    BeatRun.objects.create(task=BeatRun.FANOUT, ran_at=timezone.now() - timedelta(hours=3, seconds=5))
    assert healthz(client)[0] == 200
    status, body = healthz(client, strict=True)
    assert status == 503
    assert body["status"] == "degraded"
    assert body["checks"]["beat"]["ok"] is False
    assert body["checks"]["beat"]["error"] == "beat is overdue"
    assert body["checks"]["beat"]["last_run_age_seconds"] >= 3 * 3600
    BeatRun.objects.filter(task=BeatRun.FANOUT).update(ran_at=timezone.now() - timedelta(hours=2))
    assert healthz(client, strict=True)[0] == 200


def test_beat_never_run_is_degraded_until_beat_starts(client):
    status, body = healthz(client, strict=True)
    assert status == 503
    assert body["checks"]["beat"]["error"] == "beat has never run"
    _record_beat_start()  # what `celery beat` runs at start (finance/celery.py)
    assert BeatRun.objects.filter(task=BeatRun.BEAT_STARTED).exists()
    status, body = healthz(client, strict=True)
    assert status == 200, body
    assert "started" in body["checks"]["beat"] and "last_run" not in body["checks"]["beat"]


def test_fan_out_records_its_run_and_runs_once_per_interval(fake_plaid, settings):
    settings.BALANCE_REFRESH_INTERVAL = 3600
    PlaidItemFactory()
    assert tasks.refresh_all_items() == 1
    run = BeatRun.objects.get(task=BeatRun.FANOUT)
    assert run.items_queued == 1
    assert timezone.now() - run.ran_at < timedelta(seconds=60)
    # A second beat fires half an interval later: nothing queued, the first run stands.
    PlaidItemFactory()
    assert tasks.refresh_all_items() == 0
    assert BeatRun.objects.get(task=BeatRun.FANOUT) == run
    assert BeatRun.objects.get(task=BeatRun.FANOUT).items_queued == 1
    # 0.9 interval on, the next fan-out runs.
    BeatRun.objects.filter(pk=run.pk).update(ran_at=run.ran_at - timedelta(seconds=3240))
    assert tasks.refresh_all_items() == 1  # the new Item; the first is still pending
    assert BeatRun.objects.get(task=BeatRun.FANOUT).ran_at > run.ran_at


def test_fan_out_delivered_again_finishes_the_cycle(
    settings, queued_refreshes, django_capture_on_commit_callbacks
):
    """Its worker died mid fan-out: the redelivered task queues the rest, nothing twice."""
    settings.BALANCE_REFRESH_INTERVAL = 3600
    cycle = timezone.now() - timedelta(minutes=5)
    BeatRun.objects.create(task=BeatRun.FANOUT, ran_at=cycle, items_queued=1)
    done = PlaidItemFactory(last_refreshed_at=cycle + timedelta(minutes=1))
    before = PlaidItemFactory(last_refreshed_at=cycle - timedelta(hours=1))
    never = PlaidItemFactory(last_refreshed_at=None)
    assert tasks.refresh_all_items() == 0  # a second beat: skipped
    task = tasks.refresh_all_items
    task.push_request(delivery_info={"redelivered": True})  # as the worker sees it
    try:
        with django_capture_on_commit_callbacks(execute=True):
            assert task.run() == 2
    finally:
        task.pop_request()
    queued = queued_refreshes.item_ids
    assert sorted(queued) == sorted([before.pk, never.pk]) and done.pk not in queued
    run = BeatRun.objects.get(task=BeatRun.FANOUT)
    assert (run.ran_at, run.items_queued) == (cycle, 3)


def test_not_redirected_to_https(client, settings, beat_ran):
    settings.SECURE_SSL_REDIRECT = True
    assert client.get("/accounts/login/").status_code == 301
    assert client.get("/healthz/").status_code == 200


def test_only_get_and_head(client, beat_ran):
    assert client.head("/healthz/").status_code == 200
    assert client.post("/healthz/").status_code in (403, 405)
