"""What `/healthz/` reports: database, broker and queue depth, shared state, beat.

Cost per probe: one `SELECT 1`, one indexed read of two BeatRun rows, one count of the
month's billed calls (plus one read of the budget's row when a budget is set), and on Redis one
connection with PING, four LLEN (Celery's priority lists) and one HLEN, under 2 s
timeouts. Reports no URL, host name, user, password or token.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import redis
from django.conf import settings
from django.db import DatabaseError, connection
from django.utils import timezone
from kombu import Connection

from balances.models import BeatRun
from balances.selectors import costs

REDIS_TIMEOUT = 2.0
# kombu's Redis transport keeps one list per priority step: "<queue>", "<queue>\x06\x163", ...
_PRIORITY_SEP = "\x06\x16"
_PRIORITY_STEPS = (0, 3, 6, 9)
_UNACKED_KEY = "unacked"

Report = dict[str, Any]


def _timed(check: Callable[[], Report]) -> Report:
    start = time.perf_counter()
    try:
        report = check()
    except Exception as exc:  # every failure is a finding, never a 500
        report = {"ok": False, "error": _describe(exc)}
    report["ms"] = round((time.perf_counter() - start) * 1000, 1)
    return report


def _describe(exc: Exception) -> str:
    """Name the failure without its message (which may hold a URL or host)."""
    return f"{type(exc).__module__}.{type(exc).__name__}"


def _is_redis(url: str) -> bool:
    return url.startswith(("redis://", "rediss://"))


def check_database() -> Report:
    """Run `SELECT 1` on the default database."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except DatabaseError as exc:
        return {"ok": False, "vendor": connection.vendor, "error": _describe(exc)}
    return {"ok": True, "vendor": connection.vendor}


def _redis_client(url: str) -> redis.Redis:
    return redis.Redis.from_url(
        url, socket_connect_timeout=REDIS_TIMEOUT, socket_timeout=REDIS_TIMEOUT
    )


def check_broker() -> Report:
    """Reach the broker; on Redis, count the messages waiting in the task queue."""
    url = settings.CELERY_BROKER_URL
    queue = settings.CELERY_TASK_DEFAULT_QUEUE
    if _is_redis(url):
        prefix = str(settings.CELERY_BROKER_TRANSPORT_OPTIONS.get("global_keyprefix") or "")
        client = _redis_client(url)
        try:
            client.ping()
            pipe = client.pipeline(transaction=False)
            for step in _PRIORITY_STEPS:
                pipe.llen(prefix + (queue if step == 0 else f"{queue}{_PRIORITY_SEP}{step}"))
            pipe.hlen(prefix + _UNACKED_KEY)
            *depths, unacked = pipe.execute()
        except redis.RedisError as exc:
            return {"ok": False, "kind": "redis", "queue": queue, "error": _describe(exc)}
        finally:
            client.close()
        return {
            "ok": True,
            "kind": "redis",
            "queue": queue,
            "queue_depth": sum(int(d) for d in depths),
            "unacked": int(unacked),
        }
    if url.startswith("filesystem://"):
        folder = Path(str(settings.CELERY_BROKER_TRANSPORT_OPTIONS["data_folder_in"]))
        try:
            depth = sum(1 for _ in folder.iterdir())
        except OSError as exc:
            return {"ok": False, "kind": "file broker", "error": _describe(exc)}
        return {"ok": True, "kind": "file broker", "queue": queue, "queue_depth": depth}
    scheme = url.split("://", 1)[0]
    with Connection(url, connect_timeout=REDIS_TIMEOUT) as conn:
        conn.ensure_connection(max_retries=1, timeout=int(REDIS_TIMEOUT))
    return {"ok": True, "kind": scheme, "queue": queue}


def check_shared_state(broker: Report) -> Report:
    """Reach the store of throttles and locks (THROTTLE_REDIS_URL) unless it is the broker."""
    url = settings.THROTTLE_REDIS_URL
    if not url:
        return {"ok": True, "kind": "file (this machine only)"}
    if url == settings.CELERY_BROKER_URL:
        return {"ok": bool(broker["ok"]), "kind": "redis (the broker)"}
    client = _redis_client(url)
    try:
        client.ping()
    except redis.RedisError as exc:
        return {"ok": False, "kind": "redis", "error": _describe(exc)}
    finally:
        client.close()
    return {"ok": True, "kind": "redis"}


def check_beat() -> Report:
    """Tell whether beat's fan-out ran within BEAT_OVERDUE_AFTER seconds.

    Until the first fan-out (beat runs it one interval after it starts) beat's own start
    counts, so a fresh deployment is healthy; a deployment whose beat never started is not.
    """
    runs = {
        r.task: r for r in BeatRun.objects.filter(task__in=[BeatRun.FANOUT, BeatRun.BEAT_STARTED])
    }
    now = timezone.now()
    limit = settings.BEAT_OVERDUE_AFTER
    report: Report = {"overdue_after_seconds": limit}
    fanout, started = runs.get(BeatRun.FANOUT), runs.get(BeatRun.BEAT_STARTED)
    if fanout is not None:
        report["last_run"] = fanout.ran_at.isoformat()
        report["last_run_age_seconds"] = int((now - fanout.ran_at).total_seconds())
        report["items_queued"] = fanout.items_queued
    if started is not None:
        report["started"] = started.ran_at.isoformat()
    latest = max((r.ran_at for r in (fanout, started) if r is not None), default=None)
    if latest is None:
        report.update(ok=False, error="beat has never run")
    elif (now - latest).total_seconds() > limit:
        report.update(ok=False, error="beat is overdue")
    else:
        report["ok"] = True
    return report


def check_plaid_budget() -> Report:
    """Say whether this month's PLAID_BALANCE_MONTHLY_BUDGET is spent (not ok: refreshes
    use cached balances until the month ends). Without a budget: ok, no cap. Reports
    counts only, no user."""
    status = costs.budget_status()
    report: Report = {"budget": status.budget, "used": status.used}
    if status.budget is None:
        report["ok"] = True
        return report
    report["resets_at"] = status.resets_at.isoformat()
    if status.spent:
        report.update(ok=False, error="budget spent: scheduled refreshes use cached balances")
        if status.spent_at is not None:
            report["spent_at"] = status.spent_at.isoformat()
    else:
        report["ok"] = True
    return report


def health_report() -> Report:
    """Run every check and return the report.

    `status` is "ok" when every check passed, "degraded" when the database answers but the
    broker, shared state or beat do not (this node still serves pages; background work is
    stalled) or the month's Plaid balance budget is spent (balances are cached), and
    "fail" when the database does not (this node cannot serve).
    """
    database = _timed(check_database)
    broker = _timed(check_broker)
    checks: Report = {
        "database": database,
        "broker": broker,
        "shared_state": _timed(lambda: check_shared_state(broker)),
        "beat": _timed(check_beat) if database["ok"] else {"ok": False, "error": "no database"},
        "plaid_budget": _timed(check_plaid_budget)
        if database["ok"]
        else {"ok": False, "error": "no database"},
    }
    if not database["ok"]:
        status = "fail"
    elif all(check["ok"] for check in checks.values()):
        status = "ok"
    else:
        status = "degraded"
    return {"status": status, "checks": checks}
