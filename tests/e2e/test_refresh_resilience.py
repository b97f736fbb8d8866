"""End to end: real Celery workers on real Redis, the emulator's faults over real HTTP.

Each test gets its own queue and its own Redis key prefix; retry delays are small through
settings so the suite stays fast.
"""

import contextlib
import itertools
import os
import signal
import socket
import threading
import time
import uuid

import pytest
from celery import Celery
from django.db import connection

from balances.models import Account, BalanceSnapshot, PlaidCall, PlaidItem
from balances.services import linking, pending
from tests.e2e.conftest import broker_connection, emulator_post, manage, wait_for
from tests.factories import UserFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

BALANCE = "/accounts/balance/get"


def balance_calls(emulator):
    return emulator.emulator.stats.get(BALANCE, 0)


@pytest.fixture
def shared(settings, process_env, redis_url):
    """Point this process and the workers at the same Redis state, with fast retries."""
    prefix = f"test-{uuid.uuid4().hex[:12]}"
    settings.THROTTLE_REDIS_URL = redis_url
    settings.THROTTLE_KEY_PREFIX = prefix
    process_env.update(
        THROTTLE_REDIS_URL=redis_url,
        THROTTLE_KEY_PREFIX=prefix,
        BALANCE_RETRY_BASE_SECONDS="0.2",
        BALANCE_RETRY_CAP_SECONDS="1",
        BALANCE_REFRESH_MAX_RETRIES="5",
        # `refresh_balances` queues on the schedule's source: these tests are about the
        # billed real-time path (Plaid's /accounts/balance/get), the schedule's opt-in.
        BALANCE_SCHEDULED_SOURCE="realtime",
    )
    return process_env


@pytest.fixture
def publish(shared):
    """Publish refresh tasks straight to the workers' queue (bypassing de-duplication)."""
    # Not the current app: `shared_task` proxies (what later tests patch) must keep
    # resolving to the project's app in every thread.
    app = Celery("e2e-publisher", set_as_current=False)
    queue = shared["CELERY_TASK_DEFAULT_QUEUE"]
    connection = broker_connection(app, shared)

    def send(item_id):
        app.send_task(
            "balances.tasks.refresh_item_balances",
            args=[item_id],
            kwargs={"realtime": True},
            queue=queue,
            serializer="json",
            connection=connection,
        )

    yield send
    connection.release()
    app.close()


def link(username, institution="ins_3"):
    user = UserFactory(username=username)
    return linking.item_link_sandbox(user=user, institution_id=institution, queue_refresh=False)


def outcomes(item):
    return list(
        PlaidCall.objects.filter(item=item, endpoint=BALANCE)
        .order_by("pk")
        .values_list("error_code", flat=True)
    )


def test_rate_limits_and_outages_recover(emulator, shared, start_worker):
    item = link("alice")
    for code in ("INSTITUTION_DOWN", "RATE_LIMIT_EXCEEDED", "INTERNAL_SERVER_ERROR", "MALFORMED"):
        emulator_post(
            emulator,
            "/emulator/faults",
            {"error_code": code, "item_id": item.plaid_item_id, "count": 1, "endpoint": BALANCE},
        )
    start_worker()
    queued = manage(shared, "refresh_balances", "--user", "alice")
    assert "Queued 1 refresh task(s)." in queued.stdout, queued.stderr

    assert wait_for(lambda: Account.objects.filter(item=item, current__isnull=False).count() == 5)
    item.refresh_from_db()
    assert (item.status, item.error_code) == (PlaidItem.Status.HEALTHY, "")
    # The store served the request: the Item is no longer pending.
    assert item.last_refreshed_at is not None
    assert item.refresh_requested_at is None and not item.is_refresh_pending
    assert outcomes(item) == [
        "INSTITUTION_DOWN",
        "RATE_LIMIT_EXCEEDED",
        "INTERNAL_SERVER_ERROR",
        "MALFORMED_RESPONSE",
        "",
    ]
    assert BalanceSnapshot.objects.filter(account__item=item).count() == 5
    # Done: no longer pending, so the next refresh can be queued.
    again = manage(shared, "refresh_balances", "--user", "alice")
    assert "Queued 1 refresh task(s)." in again.stdout


def test_retries_exhausted_mark_the_item_erroring_with_the_reason(emulator, shared, start_worker):
    shared["BALANCE_REFRESH_MAX_RETRIES"] = "2"
    item = link("erin")
    emulator_post(
        emulator,
        "/emulator/faults",
        {"error_code": "INSTITUTION_NOT_RESPONDING", "item_id": item.plaid_item_id},
    )
    start_worker()
    manage(shared, "refresh_balances", "--user", "erin")
    assert wait_for(
        lambda: PlaidItem.objects.filter(pk=item.pk, status=PlaidItem.Status.ERROR).exists()
    )
    item.refresh_from_db()
    assert item.error_code == "INSTITUTION_NOT_RESPONDING"
    assert "gave up after 2 retries" in item.error_message
    assert outcomes(item) == ["INSTITUTION_NOT_RESPONDING"] * 3
    assert not Account.objects.filter(item=item, current__isnull=False).exists()


def test_re_login_stops_retries(emulator, shared, start_worker):
    item = link("bob")
    emulator_post(
        emulator,
        "/emulator/faults",
        {"error_code": "INSTITUTION_DOWN", "item_id": item.plaid_item_id, "count": 1},
    )
    emulator_post(
        emulator,
        "/emulator/faults",
        {"error_code": "ITEM_LOGIN_REQUIRED", "item_id": item.plaid_item_id, "count": 50},
    )
    start_worker()
    manage(shared, "refresh_balances", "--user", "bob")
    assert wait_for(
        lambda: PlaidItem.objects.filter(
            pk=item.pk, status=PlaidItem.Status.LOGIN_REQUIRED
        ).exists()
    )
    time.sleep(2.5)  # retries would come every 0.1-1 s: none may follow
    assert outcomes(item) == ["INSTITUTION_DOWN", "ITEM_LOGIN_REQUIRED"]
    assert balance_calls(emulator) == 2
    # Scheduled runs skip it too.
    queued = manage(shared, "refresh_balances", "--user", "bob")
    assert "Queued 0 refresh task(s)." in queued.stdout


def test_worker_killed_mid_refresh_loses_and_duplicates_nothing(emulator, shared, start_worker):
    # A message of a dead worker comes back after 3 s; its Item lock frees after 6 s.
    shared.update(CELERY_VISIBILITY_TIMEOUT="3", BALANCE_REFRESH_LOCK_TTL="6")
    item = link("carol")
    emulator_post(emulator, "/emulator/latency", {"mode": "fixed", "ms": 3000})
    doomed = start_worker("doomed")
    manage(shared, "refresh_balances", "--user", "carol")
    assert wait_for(lambda: balance_calls(emulator) >= 1), "the refresh never started"
    time.sleep(0.3)
    os.kill(doomed.pid, signal.SIGKILL)  # mid-call: Plaid has not answered yet
    doomed.wait(10)
    emulator_post(emulator, "/emulator/latency", {"mode": "off"})
    # Nothing half-written (linking registered the accounts; no balance is stored yet).
    stored = Account.objects.filter(item=item, current__isnull=False)
    assert not stored.exists()

    start_worker("survivor")
    assert wait_for(lambda: stored.count() == 5, timeout=60), (
        "the task of the killed worker was not delivered again"
    )
    time.sleep(1.0)  # a duplicate delivery would show up now
    assert Account.objects.filter(item=item).count() == 5
    assert BalanceSnapshot.objects.filter(account__item=item).count() == 5
    item.refresh_from_db()
    assert item.status == PlaidItem.Status.HEALTHY
    assert outcomes(item) == [""]  # the killed call never returned, so it was not logged


def test_two_workers_refreshing_the_same_items_never_interleave(
    emulator, shared, start_worker, publish
):
    items = [link("dave"), link("dora", institution="ins_109508")]
    emulator_post(emulator, "/emulator/latency", {"mode": "fixed", "ms": 300})
    start_worker("w1")
    start_worker("w2")
    for item in items:  # A, A, A, B, B, B: both workers get the same Item at once
        for _ in range(3):
            publish(item.pk)

    assert wait_for(lambda: PlaidCall.objects.count() == 6, timeout=60)
    for item, count in zip(items, (5, 12), strict=True):
        accounts = Account.objects.filter(item=item)
        assert accounts.count() == count
        assert accounts.values("plaid_account_id").distinct().count() == count
        # Frozen balances, one day: exactly one snapshot per account, none duplicated.
        for account in accounts:
            assert account.snapshots.count() == 1
            snapshot = account.snapshots.get()
            assert (snapshot.available, snapshot.current, snapshot.limit) == account.balances
        # The per-Item lock: no two calls for one Item overlapped in time.
        spans = sorted(
            (c.called_at.timestamp() - c.duration_ms / 1000, c.called_at.timestamp())
            for c in PlaidCall.objects.filter(item=item)
        )
        assert len(spans) == 3
        for (_, end), (start, _) in itertools.pairwise(spans):
            assert start >= end - 0.05, spans
        item.refresh_from_db()
        assert item.status == PlaidItem.Status.HEALTHY


def test_plaids_own_rate_limit_is_retried_until_its_window_passes(
    emulator, shared, start_worker, publish
):
    """Plaid answers 429 (its per-Item limit, 5 a minute); the refreshes back off and finish."""
    shared.update(
        BALANCE_REFRESH_MAX_RETRIES="50", PLAID_BALANCE_GET_PER_ITEM_PER_MINUTE="100"
    )  # our own throttle set too high on purpose: Plaid has to refuse
    item = link("fay")
    emulator_post(emulator, "/emulator/rate-limits", {"mode": "production"})
    # Plaid's windows are fixed minutes of the emulator clock: start at the beginning of
    # one, so the seven calls fall in the same window whatever the time of day.
    now = emulator_post(emulator, "/emulator/clock", {"advance_seconds": 0})["now"]
    emulator_post(emulator, "/emulator/clock", {"advance_seconds": 60 - now % 60 + 0.1})
    start_worker()
    for _ in range(7):
        publish(item.pk)

    def limited():
        return PlaidCall.objects.filter(item=item).exclude(error_code="").count() >= 2

    assert wait_for(limited)
    assert PlaidCall.objects.filter(item=item, error_code="").count() == 5
    emulator_post(emulator, "/emulator/clock", {"advance_seconds": 61})  # Plaid's minute passes
    assert wait_for(lambda: PlaidCall.objects.filter(item=item, error_code="").count() == 7)
    assert set(PlaidCall.objects.filter(item=item).values_list("error_code", flat=True)) == {
        "",
        "BALANCE_LIMIT",
    }
    item.refresh_from_db()
    assert (item.status, item.error_code) == (PlaidItem.Status.HEALTHY, "")
    assert Account.objects.filter(item=item).count() == 5


class TcpProxy:
    """Forwards a local port to the database; `stop()` makes the database unreachable
    through it (connections refused, open ones cut), `start()` reachable again."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        probe = socket.socket()
        probe.bind(("127.0.0.1", 0))
        self.port = probe.getsockname()[1]
        probe.close()
        self.listener: socket.socket | None = None
        self.open: list[socket.socket] = []
        self.lock = threading.Lock()

    def start(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self.listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def stop(self) -> None:
        if self.listener is not None:
            listener, self.listener = self.listener, None
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept()
            listener.close()
        with self.lock:
            for sock in self.open:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()
            self.open.clear()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # stopped
            if self.listener is not listener:  # accepted as it stopped
                client.close()
                return
            try:
                server = socket.create_connection(self.target)
            except OSError:
                client.close()
                continue
            with self.lock:
                self.open += [client, server]
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                sink.sendall(data)
        with contextlib.suppress(OSError):
            sink.shutdown(socket.SHUT_WR)


def test_a_database_outage_as_refreshes_start_delays_them_and_bills_none_twice(
    emulator, shared, start_worker, publish
):
    """The issue's case: the database unreachable at each refresh's first read ("Refresh
    now" for several Items): each is retried with backoff and refreshed once it is back."""
    if connection.vendor != "postgresql":
        pytest.skip("the outage is a TCP proxy in front of PostgreSQL")
    # Retries for at least 6 s, longer than the outage.
    shared.update(BALANCE_RETRY_BASE_SECONDS="0.5", BALANCE_RETRY_CAP_SECONDS="2")
    shared.update(BALANCE_REFRESH_MAX_RETRIES="8")
    settings_dict = connection.settings_dict
    proxy = TcpProxy(settings_dict["HOST"] or "127.0.0.1", int(settings_dict["PORT"] or 5432))
    host = f"{settings_dict['HOST'] or '127.0.0.1'}:{settings_dict['PORT'] or 5432}"
    shared["DATABASE_URL"] = shared["DATABASE_URL"].replace(host, f"127.0.0.1:{proxy.port}")
    assert str(proxy.port) in shared["DATABASE_URL"]
    proxy.start()
    try:
        warm_up = link("gina")
        items = [link(f"user{n}") for n in range(5)]
        start_worker(pool="threads", concurrency=4)
        publish(warm_up.pk)  # the worker is up and connected to the database
        assert wait_for(
            lambda: Account.objects.filter(item=warm_up, current__isnull=False).exists()
        )
        assert wait_for(lambda: balance_calls(emulator) == 1)

        proxy.stop()  # the database goes away
        for item in items:
            assert pending.item_pending_mark(item_id=item.pk)  # as "Refresh now" does
            publish(item.pk)
        time.sleep(2.0)  # each task meets the outage at its first read, and retries
        assert balance_calls(emulator) == 1  # none got as far as Plaid
        assert all(is_pending(item) for item in items)  # nothing queues them twice
        proxy.start()  # back

        stored = Account.objects.filter(item__in=items, current__isnull=False)
        assert wait_for(lambda: stored.count() == 5 * len(items), timeout=30), (
            "a refresh was lost to the outage"
        )
        time.sleep(1.0)  # a duplicate would show now
        assert balance_calls(emulator) == 1 + len(items)  # every Item once, none twice
        for item in items:
            assert outcomes(item) == [""]
            assert not is_pending(item)
    finally:
        proxy.stop()


def is_pending(item):
    item.refresh_from_db()
    return item.is_refresh_pending
