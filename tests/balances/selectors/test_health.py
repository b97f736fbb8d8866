"""`balances.selectors.health`: what `/healthz/` reports. Without a database the status is
"fail"; broker, shared state or beat down is "degraded". The report names no secret."""

import json
from datetime import timedelta
from unittest import mock
from unittest.mock import ANY

import pytest
import redis
from django.db import OperationalError, connection
from django.utils import timezone

from balances.models import BeatRun
from balances.selectors.health import health_report
from balances.services.beat import beat_run_record
from finance.celery import _record_beat_start
from tests.conftest import require_service, tcp_open

pytestmark = pytest.mark.django_db

REDIS_URL = "redis://127.0.0.1:6379/15"
# Nothing listens on port 1: connections are refused at once.
DEAD_REDIS = "redis://:s3cret-password@127.0.0.1:1/0"


@pytest.fixture
def beat_ran():
    return beat_run_record(task=BeatRun.FANOUT, items_queued=3)


def test_healthy(beat_ran):
    report = health_report()
    assert report["status"] == "ok", report
    checks = report["checks"]
    assert set(checks) == {"database", "broker", "shared_state", "beat", "plaid_budget"}
    assert checks["plaid_budget"] == {"ok": True, "budget": None, "used": 0, "ms": ANY}
    assert checks["database"]["ok"] and checks["database"]["vendor"] == connection.vendor
    assert checks["broker"]["ok"] and checks["broker"]["kind"] == "memory"
    assert checks["beat"]["ok"] and checks["beat"]["items_queued"] == 3
    assert checks["beat"]["last_run_age_seconds"] < 60
    assert all(isinstance(check["ms"], float) for check in checks.values())


def test_database_down_fails(beat_ran):
    with mock.patch.object(connection, "cursor", side_effect=OperationalError("down")):
        report = health_report()
    assert report["status"] == "fail"
    assert report["checks"]["database"] == {
        "ok": False,
        "vendor": connection.vendor,
        "error": "django.db.utils.OperationalError",
        "ms": report["checks"]["database"]["ms"],
    }
    assert report["checks"]["beat"] == {"ok": False, "error": "no database"}


def test_redis_broker_down_is_degraded_and_names_no_secret(settings, beat_ran):
    settings.CELERY_BROKER_URL = DEAD_REDIS
    settings.THROTTLE_REDIS_URL = DEAD_REDIS
    report = health_report()
    assert report["status"] == "degraded"
    assert report["checks"]["broker"]["ok"] is False
    assert report["checks"]["broker"]["kind"] == "redis"
    assert report["checks"]["broker"]["error"].startswith("redis.exceptions.")
    assert report["checks"]["shared_state"] == {
        "ok": False,
        "kind": "redis (the broker)",
        "ms": report["checks"]["shared_state"]["ms"],
    }
    text = json.dumps(report)
    assert "s3cret" not in text and "127.0.0.1" not in text and ":1/" not in text


def test_separate_shared_state_redis_down_is_degraded(settings, beat_ran):
    settings.THROTTLE_REDIS_URL = DEAD_REDIS
    report = health_report()
    assert report["status"] == "degraded"
    assert report["checks"]["broker"]["ok"] is True
    assert report["checks"]["shared_state"]["ok"] is False
    assert report["checks"]["shared_state"]["kind"] == "redis"
    assert report["checks"]["shared_state"]["error"].startswith("redis.exceptions.")
    assert "s3cret" not in json.dumps(report)


@pytest.mark.parametrize("prefix", ["", "healthz-install:"])
def test_redis_broker_reports_queue_depth(settings, beat_ran, prefix):
    require_service("Redis", lambda: tcp_open("127.0.0.1", 6379), "nothing on 127.0.0.1:6379")
    queue = "healthz-test-queue"
    settings.CELERY_BROKER_URL = REDIS_URL
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {"global_keyprefix": prefix}
    settings.CELERY_TASK_DEFAULT_QUEUE = queue
    settings.THROTTLE_REDIS_URL = REDIS_URL
    keys = (f"{prefix}{queue}", f"{prefix}{queue}\x06\x169")
    r = redis.Redis.from_url(REDIS_URL)
    r.delete(*keys)
    try:
        r.lpush(keys[0], "a", "b", "c")
        r.lpush(keys[1], "d")  # a message at priority 9
        r.lpush(queue if prefix else f"other:{queue}", "another install's")
        report = health_report()
    finally:
        r.delete(*keys, queue, f"other:{queue}")
    assert report["status"] == "ok", report
    broker = report["checks"]["broker"]
    assert (broker["kind"], broker["queue"], broker["queue_depth"]) == ("redis", queue, 4)
    assert isinstance(broker["unacked"], int)
    assert report["checks"]["shared_state"] == {
        "ok": True,
        "kind": "redis (the broker)",
        "ms": report["checks"]["shared_state"]["ms"],
    }


def test_separate_shared_state_redis_is_pinged(settings, beat_ran):
    require_service("Redis", lambda: tcp_open("127.0.0.1", 6379), "nothing on 127.0.0.1:6379")
    settings.THROTTLE_REDIS_URL = REDIS_URL
    report = health_report()
    assert report["status"] == "ok", report
    assert report["checks"]["shared_state"] == {
        "ok": True,
        "kind": "redis",
        "ms": report["checks"]["shared_state"]["ms"],
    }


def test_file_broker_is_named_and_counted(settings, tmp_path, beat_ran):
    (tmp_path / "one.msg").write_text("{}")
    (tmp_path / "two.msg").write_text("{}")
    settings.CELERY_BROKER_URL = "filesystem://"
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {"data_folder_in": str(tmp_path)}
    report = health_report()
    assert report["status"] == "ok", report
    assert report["checks"]["broker"]["kind"] == "file broker"
    assert report["checks"]["broker"]["queue_depth"] == 2
    assert report["checks"]["shared_state"]["kind"] == "file (this machine only)"


def test_file_broker_without_its_folder_is_degraded(settings, tmp_path, beat_ran):
    settings.CELERY_BROKER_URL = "filesystem://"
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {"data_folder_in": str(tmp_path / "gone")}
    report = health_report()
    assert report["status"] == "degraded"
    assert report["checks"]["broker"]["ok"] is False
    assert report["checks"]["broker"]["error"] == "builtins.FileNotFoundError"


def test_beat_overdue_is_degraded(settings):
    settings.BEAT_OVERDUE_AFTER = 3 * 3600
    BeatRun.objects.create(
        task=BeatRun.FANOUT, ran_at=timezone.now() - timedelta(hours=3, seconds=5)
    )
    report = health_report()
    assert report["status"] == "degraded"
    beat = report["checks"]["beat"]
    assert beat["ok"] is False
    assert beat["error"] == "beat is overdue"
    assert beat["last_run_age_seconds"] >= 3 * 3600
    assert beat["overdue_after_seconds"] == 3 * 3600
    BeatRun.objects.filter(task=BeatRun.FANOUT).update(ran_at=timezone.now() - timedelta(hours=2))
    assert health_report()["status"] == "ok"


def test_beat_never_run_is_degraded_until_beat_starts():
    report = health_report()
    assert report["status"] == "degraded"
    assert report["checks"]["beat"]["error"] == "beat has never run"
    _record_beat_start()  # what `celery beat` runs at start (finance/celery.py)
    assert BeatRun.objects.filter(task=BeatRun.BEAT_STARTED).exists()
    report = health_report()
    assert report["status"] == "ok", report
    assert "started" in report["checks"]["beat"] and "last_run" not in report["checks"]["beat"]


def test_spent_plaid_budget_is_reported_degraded(beat_ran, settings):
    from balances.models import PlaidCall
    from tests.factories import PlaidItemFactory

    settings.PLAID_BALANCE_MONTHLY_BUDGET = 2
    item = PlaidItemFactory()
    PlaidCall.objects.create(item=item, called_at=timezone.now(), endpoint="/accounts/balance/get")
    report = health_report()
    budget = report["checks"]["plaid_budget"]
    assert (report["status"], budget["ok"], budget["budget"], budget["used"]) == ("ok", True, 2, 1)
    PlaidCall.objects.create(item=item, called_at=timezone.now(), endpoint="/accounts/balance/get")
    report = health_report()
    budget = report["checks"]["plaid_budget"]
    assert report["status"] == "degraded"
    assert budget["ok"] is False and "budget spent" in budget["error"]
    assert "resets_at" in budget and "username" not in json.dumps(report)
