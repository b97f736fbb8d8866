"""Refresh pipeline benchmarks: CPU-bound throughput (2), latency-bound (3), memory (5).

Run by `bench/run.py` in a process whose environment points at the run's PostgreSQL
database (migrated), Redis db 14 with the run's own queue and throttle prefix, and the
emulator (its own process, `--port`/control URL in PLAID_HOST). Steps:

1. link `--items` Items (ins_3, 5 accounts each) through `services.item_link_sandbox`
   (the emulator's `/sandbox/public_token/create` + exchange + `/item/get`), 8 threads;
2. the bare rate: the same number of `plaid_client.accounts_balance_get` calls in a
   tight loop (one thread, no database, no queue);
3. one real Celery worker (`--pool threads --concurrency 8`, the Procfile's default)
   refreshes every Item 5 times (cycle 0 creates the accounts, cycle 1 is timed for
   target 2; the worker's VmRSS after 1,000 and after 10,000 refreshes for target 5);
4. target 3: `--latency-items` Items with 250 ms injected per call, then the realistic
   distribution, each with its own worker and concurrency, per-client limit 1,200/min.

Each refresh is queued as beat queues it (`services.items_queue_refresh`: pending mark in
Redis, `refresh_requested_at`, publish at commit) and runs the real task: lock, throttle,
Plaid call, call log, store. Completion is counted from the PlaidCall log.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import common  # noqa: E402

RESULTS = ROOT / "var" / "bench-refresh.json"
CPU_TARGET = 0.5
LATENCY_TARGET = 1.3
MEMORY_TARGET = 0.10
PER_CLIENT_LIMIT = 1200  # Plaid production: /accounts/balance/get per client per minute


def link_items(n: int, threads: int = 8) -> list[int]:
    """Link `n` sandbox Items for one user through our services; return their ids."""
    from django.contrib.auth.models import User
    from django.db import connection

    from balances import services

    user = User.objects.create_user("bench")

    def one(_i: int) -> int:
        try:
            item = services.item_link_sandbox(
                user=user, institution_id="ins_3", queue_refresh=False
            )
            return int(item.pk)
        finally:
            connection.close()

    with ThreadPoolExecutor(threads) as pool:
        return sorted(pool.map(one, range(n)))


def bare_rate(tokens: list[str]) -> float:
    """Return /accounts/balance/get calls per second in a tight loop (one thread)."""
    from balances import plaid_client

    plaid_client.accounts_balance_get(tokens[0])  # build the SDK client first
    started = time.perf_counter()
    for token in tokens:
        plaid_client.accounts_balance_get(token)
    return len(tokens) / (time.perf_counter() - started)


def calls_since(last_id: int) -> int:
    from balances.models import PlaidCall

    return PlaidCall.objects.filter(pk__gt=last_id).count()


def last_call_id() -> int:
    from balances.models import PlaidCall

    return PlaidCall.objects.order_by("-pk").values_list("pk", flat=True).first() or 0


def queue(item_ids: list[int]) -> None:
    """Queue a real-time refresh of each Item as beat does (published at commit)."""
    from django.db import transaction

    from balances import services
    from balances.models import PlaidItem

    with transaction.atomic():
        services.items_queue_refresh(
            items=PlaidItem.objects.filter(pk__in=item_ids).only("pk", "status"), realtime=True
        )


def run_cycle(
    item_ids: list[int], *, timeout: float, on_count: dict[int, Any] | None = None
) -> float:
    """Queue one refresh per Item and wait until all ran; return the wall seconds.

    `on_count` maps a number of finished refreshes (in this cycle) to a callable run once
    when it is reached (polled every 50 ms).
    """
    start_id = last_call_id()
    hooks = dict(on_count or {})
    started = time.perf_counter()
    queue(item_ids)
    while True:
        done = calls_since(start_id)
        for threshold in sorted(hooks):
            if done >= threshold:
                hooks.pop(threshold)()
        if done >= len(item_ids):
            return time.perf_counter() - started
        if time.perf_counter() - started > timeout:
            raise RuntimeError(f"only {done} of {len(item_ids)} refreshes after {timeout:.0f} s")
        time.sleep(0.05)


def check_calls(start_id: int, expected: int) -> dict[str, Any]:
    """Return the call log's figures since `start_id`; raise if a refresh failed."""
    from balances.models import PlaidCall

    rows = list(
        PlaidCall.objects.filter(pk__gt=start_id).values_list(
            "item_id", "called_at", "duration_ms", "error_code"
        )
    )
    errors = [r for r in rows if r[3]]
    items = {r[0] for r in rows}
    if errors or len(rows) != expected or len(items) != expected:
        raise RuntimeError(
            f"{len(rows)} calls for {len(items)} Items, {len(errors)} errors "
            f"(expected {expected} calls, one per Item)"
        )
    durations = [r[2] / 1000 for r in rows]
    times = [r[1].timestamp() for r in rows]
    return {
        "calls": len(rows),
        "mean_latency": sum(durations) / len(durations),
        "median_latency": common.median(durations),
        "p95_latency": common.percentile(durations, 95),
        "max_latency": max(durations),
        "max_per_minute": common.max_in_window(times, 60.0),
    }


PROFILE = ROOT / "var" / "bench-profile-worker.txt"


def profile_start(pid: int) -> subprocess.Popen[bytes]:
    """Sample the worker with py-spy (all threads, native off, idle frames dropped)."""
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    return subprocess.Popen(
        [spy, "record", "--pid", str(pid), "--rate", "250", "--format", "raw",
         "--output", str(PROFILE), "--nonblocking"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def profile_finish(spy: subprocess.Popen[bytes]) -> list[tuple[str, float]]:
    """Stop py-spy; return the share of samples of the frames that matter, largest first."""
    spy.send_signal(signal.SIGINT)
    spy.wait(timeout=30)
    return common.profile_shares(PROFILE.read_text())


def rate_windows_clear() -> None:
    """Forget the rate windows of earlier phases (their calls ran under other limits)."""
    from balances import throttle

    client = throttle.store().client  # type: ignore[attr-defined]
    for key in client.scan_iter(match=throttle._key("rate", "*")):
        client.delete(key)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--items", type=int, default=2000)
    ap.add_argument("--cycles", type=int, default=5)
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--latency-items", type=int, default=1000)
    ap.add_argument("--fixed-concurrency", type=int, default=16)
    ap.add_argument("--realistic-concurrency", type=int, default=64)
    ap.add_argument("--emulator-url", required=True)
    ap.add_argument("--skip-latency", action="store_true")
    ap.add_argument("--profile", action="store_true", help="py-spy the worker in cycle 1")
    args = ap.parse_args()

    import django

    django.setup()
    from django.conf import settings

    from balances.models import PlaidItem

    emulator_port = int(args.emulator_url.rsplit(":", 1)[1])
    emu = common.Emulator.__new__(common.Emulator)
    emu.port, emu.url = emulator_port, args.emulator_url
    emu.call("POST", "/emulator/latency", {"mode": "off"})

    out: dict[str, Any] = {"items": args.items, "concurrency": args.concurrency}
    t0 = time.perf_counter()
    item_ids = link_items(args.items)
    out["link_seconds"] = time.perf_counter() - t0
    tokens = [i.access_token for i in PlaidItem.objects.filter(pk__in=item_ids).order_by("pk")]
    out["bare_rate"] = bare_rate(tokens)
    print(f"linked {len(item_ids)} Items in {out['link_seconds']:.1f} s; bare rate "
          f"{out['bare_rate']:.0f} calls/s", flush=True)

    # Targets 2 and 5: one worker, throttle limits raised so they never bind (the throttle's
    # Redis round trips still run on every refresh).
    env = dict(os.environ)
    env.update(
        PLAID_BALANCE_GET_PER_ITEM_PER_MINUTE="1000",
        PLAID_BALANCE_GET_PER_CLIENT_PER_MINUTE="10000000",
    )
    worker = common.worker_start(env, name="cpu", concurrency=args.concurrency)
    rss: dict[str, tuple[int, int]] = {}
    cycles: list[dict[str, Any]] = []
    try:
        time.sleep(3)  # the worker boots while nothing is queued
        for cycle in range(args.cycles):
            start_id = last_call_id()
            hooks: dict[int, Any] = {}
            before = cycle * len(item_ids)
            for mark in (1000, 10000):
                if before < mark <= before + len(item_ids):

                    def sample(mark: int = mark) -> None:
                        rss[str(mark)] = common.proc_memory_kib(worker.pid)

                    hooks[mark - before] = sample
            spy = profile_start(worker.pid) if cycle == 1 and args.profile else None
            wall = run_cycle(item_ids, timeout=600, on_count=hooks)
            if spy is not None:
                out["profile"] = profile_finish(spy)
            figures = check_calls(start_id, len(item_ids))
            cycles.append({"cycle": cycle, "seconds": wall, "rate": len(item_ids) / wall,
                           "mean_latency": figures["mean_latency"]})
            print(f"cycle {cycle}: {len(item_ids)} refreshes in {wall:.1f} s "
                  f"({len(item_ids) / wall:.0f}/s)", flush=True)
        rss["end"] = common.proc_memory_kib(worker.pid)
    finally:
        common.worker_stop(worker)
    out["cycles"] = cycles
    out["rss"] = rss
    out["refreshes"] = args.cycles * len(item_ids)

    if not args.skip_latency:
        subset = item_ids[: args.latency_items]
        out["latency"] = []
        for mode, body, conc in (
            ("fixed 250 ms", {"mode": "fixed", "ms": 250}, args.fixed_concurrency),
            ("realistic", {"mode": "realistic"}, args.realistic_concurrency),
        ):
            emu.call("POST", "/emulator/latency", body)
            env = dict(os.environ)
            env.update(
                PLAID_BALANCE_GET_PER_ITEM_PER_MINUTE="5",
                PLAID_BALANCE_GET_PER_CLIENT_PER_MINUTE=str(PER_CLIENT_LIMIT),
                CELERY_CONCURRENCY=str(conc),
            )
            worker = common.worker_start(env, name=f"lat{conc}", concurrency=conc)
            try:
                time.sleep(3)
                rate_windows_clear()
                start_id = last_call_id()
                wall = run_cycle(subset, timeout=900)
                figures = check_calls(start_id, len(subset))
            finally:
                common.worker_stop(worker)
            ideal = common.ideal_seconds(
                calls=len(subset), mean_latency=figures["mean_latency"], concurrency=conc
            )
            row = {"mode": mode, "concurrency": conc, "seconds": wall, "ideal": ideal,
                   "limit": PER_CLIENT_LIMIT, **figures}
            out["latency"].append(row)
            print(f"{mode}: {wall:.1f} s vs ideal {ideal:.1f} s "
                  f"({wall / ideal:.2f}x), max {figures['max_per_minute']}/min", flush=True)
        emu.call("POST", "/emulator/latency", {"mode": "off"})
    out["limits_in_settings"] = settings.PLAID_BALANCE_GET_PER_CLIENT_PER_MINUTE
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    threading.current_thread().name = "bench"
    sys.exit(main())
