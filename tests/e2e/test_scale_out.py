"""Scale-out: two Celery workers (two machines' stand-ins) share one Redis and one database.

Beat's fan-out refreshes every Item exactly once per cycle, Plaid's per-client limit holds
across both workers (the emulator enforces Plaid's production limits and never refuses a
call), a duplicated fan-out queues nothing, and a worker killed mid-cycle leaves the other
doing all the work.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import urllib3
from celery import Celery
from django.db.models import Count
from django.utils import timezone

from balances.models import BeatRun, PlaidCall, PlaidItem
from balances.services import pending
from plaid_emulator import DEFAULT_CLIENT_ID, DEFAULT_SECRET
from tests.e2e.conftest import ROOT, broker_connection, wait_for
from tests.factories import UserFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

BALANCE = "/accounts/balance/get"
PER_CLIENT_LIMIT = 1200  # Plaid production: /accounts/balance/get per client per minute
ITEMS = int(os.environ.get("SCALE_OUT_ITEMS", "2000"))
CELERY = (sys.executable, "-m", "celery", "-A", "finance")


def emulator_call(http: urllib3.PoolManager, emulator: Any, path: str, body: dict) -> dict:
    response = http.request(
        "POST",
        emulator.url + path,
        json=body,
        headers={"PLAID-CLIENT-ID": DEFAULT_CLIENT_ID, "PLAID-SECRET": DEFAULT_SECRET},
        timeout=10,
    )
    assert response.status == 200, response.data
    return response.json()


def link_items(emulator: Any, count: int, users: int = 40) -> list[int]:
    """Link `count` Items at the emulator (its API, 8 threads) and store them in bulk."""
    http = urllib3.PoolManager(maxsize=8)

    def link(_n: int) -> tuple[str, str]:
        public = emulator_call(
            http,
            emulator,
            "/sandbox/public_token/create",
            {"institution_id": "ins_3", "initial_products": ["transactions"]},
        )["public_token"]
        exchange = emulator_call(
            http, emulator, "/item/public_token/exchange", {"public_token": public}
        )
        return exchange["item_id"], exchange["access_token"]

    with ThreadPoolExecutor(8) as pool:
        links = list(pool.map(link, range(count)))
    owners = [UserFactory(username=f"scale{n}") for n in range(users)]
    items = []
    for n, (item_id, token) in enumerate(links):
        item = PlaidItem(
            owner=owners[n % users],
            plaid_item_id=item_id,
            institution_id="ins_3",
            institution_name="Chase",
        )
        item.access_token = token
        items.append(item)
    PlaidItem.objects.bulk_create(items, batch_size=500)
    return list(PlaidItem.objects.values_list("pk", flat=True))


@pytest.fixture
def cluster(settings, process_env, redis_url, emulator):
    """Shared Redis state for this process and the workers, a publisher for beat's task."""
    prefix = f"test-{uuid.uuid4().hex[:12]}"
    settings.THROTTLE_REDIS_URL = redis_url
    settings.THROTTLE_KEY_PREFIX = prefix
    process_env.update(
        THROTTLE_REDIS_URL=redis_url,
        THROTTLE_KEY_PREFIX=prefix,
        # What the emulator's "production" mode enforces, as on a production client.
        PLAID_BALANCE_GET_PER_CLIENT_PER_MINUTE=str(PER_CLIENT_LIMIT),
        PLAID_BALANCE_GET_PER_ITEM_PER_MINUTE="5",
        BALANCE_SCHEDULED_SOURCE="realtime",
        BALANCE_REFRESH_INTERVAL="3600",
        LOG_LEVEL="WARNING",
    )
    http = urllib3.PoolManager()
    emulator_call(http, emulator, "/emulator/rate-limits", {"mode": "production"})
    app = Celery("scale-out-beat", set_as_current=False)  # see test_refresh_resilience
    connection = broker_connection(app, process_env)
    workers = [f"{name}@{socket.gethostname()}" for name in ("w1", "w2")]

    def fan_out() -> None:
        """Publish beat's fan-out task, exactly as `celery beat` does."""
        app.send_task(
            "balances.tasks.refresh_all_items",
            queue=process_env["CELERY_TASK_DEFAULT_QUEUE"],
            serializer="json",
            connection=connection,
        )

    def worker_totals() -> dict[str, int]:
        """Refresh tasks run so far by each worker (`celery inspect stats`, as an operator)."""
        result = subprocess.run(
            [*CELERY, "inspect", "stats", "--json", "-t", "3", "-d", ",".join(workers)],
            cwd=ROOT,
            env=process_env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        line = next((x for x in result.stdout.splitlines() if x.startswith("{")), "{}")
        return {
            name.split("@")[0]: info.get("total", {}).get("balances.tasks.refresh_item_balances", 0)
            for name, info in json.loads(line).items()
        }

    yield fan_out, worker_totals
    connection.release()
    app.close()


def balance_calls(emulator: Any) -> int:
    return emulator.emulator.stats.get(BALANCE, 0)


def assert_each_refreshed_once(item_ids: list[int]) -> None:
    per_item = dict(
        PlaidCall.objects.filter(endpoint=BALANCE)
        .values_list("item")
        .annotate(n=Count("id"))
        .values_list("item", "n")
    )
    assert set(per_item) == set(item_ids)
    assert {n for n in per_item.values()} == {1}, {k: v for k, v in per_item.items() if v != 1}


def max_calls_per_minute(slack: float = 0.5) -> int:
    """The most calls started in any (60 - `slack`)-second window, from the call log.

    A call's start is `called_at - duration_ms`: the moment our throttle counted it, give
    or take the milliseconds between counting and sending, which `slack` absorbs.
    """
    starts = sorted(
        called_at.timestamp() - (duration_ms or 0) / 1000
        for called_at, duration_ms in PlaidCall.objects.values_list("called_at", "duration_ms")
    )
    best, first = 0, 0
    for last, t in enumerate(starts):
        while t - starts[first] >= 60 - slack:
            first += 1
        best = max(best, last - first + 1)
    return best


def test_two_workers_refresh_2000_items_once_within_plaids_client_limit(
    emulator, cluster, start_worker
):
    fan_out, worker_totals = cluster
    started = time.monotonic()
    item_ids = link_items(emulator, ITEMS)
    linked = time.monotonic() - started
    assert len(item_ids) == ITEMS
    start_worker("w1", pool="threads", concurrency=4)
    start_worker("w2", pool="threads", concurrency=4)

    cycle = time.monotonic()
    fan_out()
    fan_out()  # a second beat at the same tick: queues nothing extra
    done = wait_for(
        lambda: PlaidCall.objects.filter(endpoint=BALANCE).count() >= ITEMS,
        timeout=170,
        interval=1,
    )
    elapsed = time.monotonic() - cycle
    refreshed = PlaidCall.objects.filter(endpoint=BALANCE).count()
    assert done, f"{refreshed} of {ITEMS} Items refreshed in {elapsed:.0f} s"
    time.sleep(2)  # a duplicate refresh would show up now

    assert_each_refreshed_once(item_ids)
    assert balance_calls(emulator) == ITEMS
    # Plaid never had to refuse a call: the shared throttle kept both workers under it.
    assert set(PlaidCall.objects.values_list("error_code", flat=True)) == {""}
    assert max_calls_per_minute() <= PER_CLIENT_LIMIT
    if ITEMS > PER_CLIENT_LIMIT:
        assert elapsed >= 55, "more Items than the per-minute limit took under a minute"
    assert not PlaidItem.objects.exclude(status=PlaidItem.Status.HEALTHY).exists()
    totals = worker_totals()
    assert totals.get("w1", 0) > 0 and totals.get("w2", 0) > 0, totals
    print(
        f"\nlinked {ITEMS} Items in {linked:.1f} s; cycle {elapsed:.1f} s; "
        f"max {max_calls_per_minute()} calls/min; refresh tasks run per worker {totals}"
    )


def test_a_worker_killed_mid_cycle_leaves_the_other_doing_all_the_work(
    emulator, cluster, start_worker, process_env, settings
):
    # The dead worker's unacknowledged tasks come back after 5 s; its Item locks after 3 s.
    # Beat runs every 30 s here and a queued refresh stays pending for at most 15 s, so a
    # message lost with the worker is queued again by the next fan-out (see below).
    process_env.update(
        CELERY_VISIBILITY_TIMEOUT="5",
        BALANCE_REFRESH_LOCK_TTL="3",
        BALANCE_REFRESH_INTERVAL="30",
        BALANCE_REFRESH_PENDING_TTL="15",
    )
    settings.BALANCE_REFRESH_PENDING_TTL = 15  # this process reads the marks too
    fan_out, worker_totals = cluster
    count, threads = 300, 4
    item_ids = link_items(emulator, count, users=10)
    emulator_call(
        urllib3.PoolManager(), emulator, "/emulator/latency", {"mode": "fixed", "ms": 100}
    )
    # One Item per task, stored as soon as Plaid answers: what a killed worker can have
    # called without storing is the call in flight on each of its threads.
    in_flight = threads
    doomed = start_worker("w1", pool="threads", concurrency=threads)
    survivor = start_worker("w2", pool="threads", concurrency=threads)
    fan_out()
    # Mid-cycle: the fan-out has queued every Item, a quarter are done, more are in flight.
    assert wait_for(
        lambda: (
            BeatRun.objects.filter(task=BeatRun.FANOUT, items_queued=count).exists()
            and PlaidCall.objects.count() >= count // 4
        ),
        timeout=60,
    )
    os.kill(doomed.pid, signal.SIGKILL)
    doomed.wait(10)
    at_kill = PlaidCall.objects.count()
    assert at_kill < count, "the cycle ended before the kill; nothing was tested"

    def unrefreshed() -> set[int]:
        return set(
            PlaidItem.objects.filter(last_refreshed_at__isnull=True).values_list("pk", flat=True)
        )

    # Past the visibility timeout the survivor runs everything the dead worker held. Only a
    # message popped from Redis in the instant of the kill is gone: kombu's Redis transport
    # records a delivered message as unacknowledged one round trip after popping it.
    wait_for(lambda: not unrefreshed(), timeout=25)
    time.sleep(7)  # past the visibility timeout: any duplicate delivery has run by now
    lost = unrefreshed()
    assert len(lost) <= 2, f"{len(lost)} of {count} Items not refreshed after the kill"
    assert survivor.poll() is None
    assert not PlaidItem.objects.exclude(status=PlaidItem.Status.HEALTHY).exists()
    # Every Item's balances were stored once (a call-log row is written in the store's
    # transaction). The only repeated Plaid calls are those in flight on the dead worker's
    # threads: Plaid answered or not, the worker died before storing, the survivor asked again.
    per_item = dict(
        PlaidCall.objects.values_list("item").annotate(n=Count("id")).values_list("item", "n")
    )
    assert set(per_item) == set(item_ids) - lost
    repeated = {pk: n for pk, n in per_item.items() if n != 1}
    assert len(repeated) <= in_flight and set(repeated.values()) <= {2}, repeated
    assert count - len(lost) <= balance_calls(emulator) <= count + in_flight
    totals = worker_totals()
    assert set(totals) == {"w2"}, totals  # the killed worker no longer answers
    # Every refresh stored after the kill is the survivor's, one task per Item.
    assert totals["w2"] >= PlaidCall.objects.count() - at_kill
    # Refreshes that ended are no longer pending: the next fan-out may queue them.
    assert not PlaidItem.objects.filter(
        pk__in=set(item_ids) - lost, refresh_requested_at__isnull=False
    ).exists()
    if lost:
        # A lost Item stays pending (in the database) until its mark is older than
        # BALANCE_REFRESH_PENDING_TTL; the next fan-out queues it.
        assert all(item.is_refresh_pending for item in PlaidItem.objects.filter(pk__in=lost))
        now = timezone.now()
        marked = max(PlaidItem.objects.filter(pk__in=lost).values_list("refresh_requested_at"))[0]
        claimed = BeatRun.objects.get(task=BeatRun.FANOUT).ran_at
        time.sleep(
            max(0.0, (marked - now).total_seconds() + 15.5, (claimed - now).total_seconds() + 28)
        )
        assert not any(item.is_refresh_pending for item in PlaidItem.objects.filter(pk__in=lost))
        fan_out()
        assert wait_for(lambda: not unrefreshed(), timeout=60), (
            f"Items {sorted(unrefreshed())} lost with the killed worker were not queued again"
        )


def test_a_pending_mark_whose_task_was_lost_expires_and_the_next_fan_out_queues_it(
    emulator, cluster, start_worker, process_env, settings
):
    # A message lost with a dead worker leaves its Item marked pending: nothing ends the
    # mark. Beat runs every 10 s here and a mark older than 8 s no longer counts.
    process_env.update(BALANCE_REFRESH_INTERVAL="10", BALANCE_REFRESH_PENDING_TTL="8")
    settings.BALANCE_REFRESH_PENDING_TTL = 8  # this process reads the marks too
    fan_out, _ = cluster
    item_ids = link_items(emulator, 3, users=1)
    lost_id = item_ids[0]
    start_worker("w1", pool="threads", concurrency=2)
    # The mark a fan-out set for a task that never arrived.
    marked = time.monotonic()
    assert pending.item_pending_mark(item_id=lost_id)
    assert not pending.item_pending_mark(item_id=lost_id)  # pending: not queued again
    fan_out()
    assert wait_for(lambda: PlaidCall.objects.count() == 2, timeout=60)
    time.sleep(1)
    # The pending Item was skipped; the others were refreshed once and are not pending.
    assert set(PlaidCall.objects.values_list("item", flat=True)) == set(item_ids[1:])
    lost = PlaidItem.objects.get(pk=lost_id)
    assert lost.last_refreshed_at is None and lost.is_refresh_pending
    # Past BALANCE_REFRESH_PENDING_TTL and the fan-out's interval (0.9 of it from the
    # claim), the next fan-out queues it.
    claimed = BeatRun.objects.get(task=BeatRun.FANOUT).ran_at
    next_beat = (claimed - timezone.now()).total_seconds() + 9.5
    time.sleep(max(0.0, marked + 8.5 - time.monotonic(), next_beat))
    lost.refresh_from_db()
    assert not lost.is_refresh_pending
    assert PlaidItem.objects.not_refresh_pending(timezone.now()).filter(pk=lost_id).exists()
    fan_out()
    assert wait_for(
        lambda: PlaidItem.objects.filter(pk=lost_id, last_refreshed_at__isnull=False).exists(),
        timeout=60,
    ), "the Item whose task was lost was not queued again"
    assert PlaidCall.objects.filter(item_id=lost_id).count() == 1
    lost.refresh_from_db()
    assert lost.status == PlaidItem.Status.HEALTHY and not lost.is_refresh_pending
