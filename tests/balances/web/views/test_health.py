"""`GET /healthz/` (balances/web/views/health.py): the health report over HTTP, for load
balancers (503 only when this node cannot serve) and monitoring (`?strict=1`)."""

from unittest import mock

import pytest
from django.db import OperationalError, connection

from balances.models import BeatRun
from balances.services.beat import beat_run_record

pytestmark = pytest.mark.django_db

# Nothing listens on port 1: connections are refused at once.
DEAD_REDIS = "redis://:s3cret-password@127.0.0.1:1/0"


@pytest.fixture
def beat_ran():
    return beat_run_record(task=BeatRun.FANOUT, items_queued=3)


def healthz(client, strict=False):
    response = client.get("/healthz/", {"strict": "1"} if strict else {})
    assert response["Content-Type"] == "application/json"
    assert "no-cache" in response["Cache-Control"]
    return response.status_code, response.json()


def test_healthz_answers_the_report_without_login(client, beat_ran):
    status, body = healthz(client)
    assert status == 200, body
    assert body["status"] == "ok"
    assert set(body["checks"]) == {"database", "broker", "shared_state", "beat", "plaid_budget"}
    assert healthz(client, strict=True)[0] == 200


def test_healthz_without_database_is_503(client, beat_ran):
    with mock.patch.object(connection, "cursor", side_effect=OperationalError("down")):
        status, body = healthz(client)
    assert status == 503
    assert body["status"] == "fail"


def test_healthz_degraded_is_200_unless_strict(client, settings, beat_ran):
    settings.CELERY_BROKER_URL = DEAD_REDIS
    settings.THROTTLE_REDIS_URL = DEAD_REDIS
    assert healthz(client)[0] == 200
    response = client.get("/healthz/", {"strict": "1"})
    assert response.status_code == 503
    assert response.json()["status"] == "degraded"
    text = response.content.decode()
    assert "s3cret" not in text and "127.0.0.1" not in text and ":1/" not in text


def test_not_redirected_to_https(client, settings, beat_ran):
    settings.SECURE_SSL_REDIRECT = True
    assert client.get("/accounts/login/").status_code == 301
    assert client.get("/healthz/").status_code == 200


def test_only_get_and_head(client, beat_ran):
    assert client.head("/healthz/").status_code == 200
    assert client.post("/healthz/").status_code in (403, 405)
