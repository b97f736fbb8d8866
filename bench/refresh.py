"""Refresh pipeline benchmarks: CPU-bound throughput (2), latency-bound (3), memory (5).

Run by `bench/run.py` in a process whose environment points at the run's PostgreSQL
database (migrated), Redis db 14 with the run's own queue and throttle prefix, and the
emulator (its own process, `--port`/control URL in PLAID_HOST). Steps:

1. link `--items` Items (ins_3, 5 accounts each) through `linking.item_link_sandbox`
   (the emulator's `/sandbox/public_token/create` + exchange + `/item/get`), 8 threads;
2. the bare rate: the same number of plaid-python `accounts_balance_get` calls in a
   tight loop (one thread, no database, no queue), and our client's own loop beside it;
3. one real Celery worker (`--pool threads --concurrency 8`, the Procfile's default)
   refreshes every Item 5 times (cycle 0 creates the accounts, cycle 1 is timed for
   target 2; the worker's VmRSS after 1,000 and after 10,000 refreshes for target 5);
4. target 3: `--latency-items` Items with 250 ms injected per call, then the realistic
   distribution, each with its own worker and concurrency, per-client limit 1,200/min.

Each refresh is queued as beat queues it (`queueing.items_queue_refresh`: the pending mark
`refresh_requested_at`, one `refresh_item_balances` task per Item published at commit) and
runs the real task: lock, throttle, Plaid call, call log, store. Completion is counted from
the PlaidCall log.
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
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import common, report  # noqa: E402

RESULTS = ROOT / "var" / "bench-refresh.json"
CPU_TARGET = 0.5
LATENCY_TARGET = 1.3
MEMORY_TARGET = 0.10
PER_CLIENT_LIMIT = 1200  # Plaid production: /accounts/balance/get per client per minute
QUEUE_SECONDS: list[float] = []  # how long queueing (the fan-out) took, per cycle


def link_items(n: int, threads: int = 8) -> list[int]:
    """Link `n` sandbox Items for one user through our services; return their ids."""
    from django.contrib.auth.models import User
    from django.db import connection

    from balances.services import linking

    user = User.objects.create_user("bench")

    def one(_i: int) -> int:
        try:
            item = linking.item_link_sandbox(user=user, institution_id="ins_3", queue_refresh=False)
            return int(item.pk)
        finally:
            connection.close()

    with ThreadPoolExecutor(threads) as pool:
        return sorted(pool.map(one, range(n)))


def loop_rate(call: Callable[[str], object], tokens: list[str]) -> float:
    """Return calls per second of `call(token)` over `tokens`, one thread (warmed first)."""
    call(tokens[0])
    started = time.perf_counter()
    for token in tokens:
        call(token)
    return len(tokens) / (time.perf_counter() - started)


def bare_rate(tokens: list[str]) -> float:
    """Return plaid-python's /accounts/balance/get calls per second in a tight loop.

    One thread, the SDK as its README shows it (a request model in, a response model out),
    on the pooled client our app builds from settings (`client.get_api`). The bench
    imports `plaid` here only to measure it; the app's code never does outside
    `balances/plaid/client.py`.
    """
    from plaid.model.accounts_balance_get_request import AccountsBalanceGetRequest

    from balances.plaid import client as plaid_client

    api = plaid_client.get_api()
    return loop_rate(
        lambda token: api.accounts_balance_get(AccountsBalanceGetRequest(access_token=token)),
        tokens,
    )


def client_rate(tokens: list[str]) -> float:
    """Return our client's calls per second (`client.accounts_balance_get`), as
    `bare_rate` measures the SDK's: the same calls, parsed into our dataclasses."""
    from balances.plaid import client as plaid_client

    return loop_rate(plaid_client.accounts_balance_get, tokens)


def calls_since(last_id: int) -> int:
    from balances.models import PlaidCall

    return PlaidCall.objects.filter(pk__gt=last_id).count()


def last_call_id() -> int:
    from balances.models import PlaidCall

    return PlaidCall.objects.order_by("-pk").values_list("pk", flat=True).first() or 0


def queue(item_ids: list[int]) -> None:
    """Queue a real-time refresh of each Item as beat does: one task per Item, published
    at commit."""
    from django.db import transaction

    from balances.models import PlaidItem
    from balances.services import queueing

    with transaction.atomic():
        queueing.items_queue_refresh(
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
    QUEUE_SECONDS.append(time.perf_counter() - started)
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
        [
            spy,
            "record",
            "--pid",
            str(pid),
            "--rate",
            "250",
            "--format",
            "raw",
            "--gil",
            "--output",
            str(PROFILE),
            "--nonblocking",
        ],
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
    from balances.shared_state import api as shared_state

    client = shared_state.store().client  # type: ignore[attr-defined]
    for key in client.scan_iter(match=shared_state._key("rate", "*")):
        client.delete(key)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--items", type=int, default=2000)
    ap.add_argument("--cycles", type=int, default=5)
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--latency-items", type=int, default=1000)
    # The ideal call rate (concurrency / mean latency) stays below the per-client limit:
    # 8 / 0.25 s = 32/s under an explicit 2,400/min; 32 / ~4.1 s = ~8/s under Plaid's 1,200.
    ap.add_argument("--fixed-concurrency", type=int, default=8)
    ap.add_argument("--realistic-concurrency", type=int, default=32)
    ap.add_argument("--emulator-url", required=True)
    ap.add_argument("--skip-latency", action="store_true")
    ap.add_argument(
        "--no-profile",
        dest="profile",
        action="store_false",
        help="do not py-spy the worker in cycle 2",
    )
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
    out["client_rate"] = client_rate(tokens)
    print(
        f"linked {len(item_ids)} Items in {out['link_seconds']:.1f} s; bare plaid-python "
        f"{out['bare_rate']:.0f} calls/s, our client {out['client_rate']:.0f} calls/s",
        flush=True,
    )

    # Targets 2 and 5: one worker, throttle limits raised so they never bind (the throttle's
    # Redis round trips still run on every refresh).
    env = dict(os.environ)
    env.update(
        PLAID_BALANCE_GET_PER_ITEM_PER_MINUTE="1000",
        PLAID_BALANCE_GET_PER_CLIENT_PER_MINUTE="10000000",
    )
    worker = common.worker_start(env, name="cpu", concurrency=args.concurrency)
    total = args.cycles * len(item_ids)
    marks = (total // 10, total)  # 1,000 and 10,000 with the defaults
    out["marks"] = marks
    rss: dict[str, tuple[int, int]] = {}
    cycles: list[dict[str, Any]] = []
    try:
        time.sleep(3)  # the worker boots while nothing is queued
        for cycle in range(args.cycles):
            start_id = last_call_id()
            hooks: dict[int, Any] = {}
            before = cycle * len(item_ids)
            for mark in marks:
                if before < mark <= before + len(item_ids):

                    def sample(mark: int = mark) -> None:
                        rss[str(mark)] = common.proc_memory_kib(worker.pid)

                    hooks[mark - before] = sample
            spy = profile_start(worker.pid) if cycle == 2 and args.profile else None
            wall = run_cycle(item_ids, timeout=600, on_count=hooks)
            if spy is not None:
                out["profile"] = profile_finish(spy)
            figures = check_calls(start_id, len(item_ids))
            cycles.append(
                {
                    "cycle": cycle,
                    "seconds": wall,
                    "rate": len(item_ids) / wall,
                    "mean_latency": figures["mean_latency"],
                }
            )
            print(
                f"cycle {cycle}: queued in {QUEUE_SECONDS[-1]:.1f} s; "
                f"{len(item_ids)} refreshes in {wall:.1f} s "
                f"({len(item_ids) / wall:.0f}/s)",
                flush=True,
            )
        rss["end"] = common.proc_memory_kib(worker.pid)
    finally:
        common.worker_stop(worker)
    out["cycles"] = cycles
    out["rss"] = rss
    out["refreshes"] = args.cycles * len(item_ids)

    # Target 2 on the whole machine: one worker process per CPU, as the Procfile allows.
    workers = [
        common.worker_start(env, name=f"cpu{n}", concurrency=args.concurrency)
        for n in range(args.workers)
    ]
    try:
        time.sleep(3)
        start_id = last_call_id()
        wall = run_cycle(item_ids, timeout=600)
        check_calls(start_id, len(item_ids))
    finally:
        for w in workers:
            common.worker_stop(w)
    out["multi"] = {"workers": args.workers, "seconds": wall, "rate": len(item_ids) / wall}
    print(
        f"{args.workers} workers: {len(item_ids)} refreshes in {wall:.1f} s "
        f"({len(item_ids) / wall:.0f}/s)",
        flush=True,
    )

    if not args.skip_latency:
        subset = item_ids[: args.latency_items]
        out["latency"] = []
        for mode, body, conc, limit in (
            ("fixed 250 ms", {"mode": "fixed", "ms": 250}, args.fixed_concurrency, 2400),
            ("realistic", {"mode": "realistic"}, args.realistic_concurrency, PER_CLIENT_LIMIT),
        ):
            emu.call("POST", "/emulator/latency", body)
            env = dict(os.environ)
            env.update(
                PLAID_BALANCE_GET_PER_ITEM_PER_MINUTE="5",
                PLAID_BALANCE_GET_PER_CLIENT_PER_MINUTE=str(limit),
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
            row = {
                "mode": mode,
                "concurrency": conc,
                "seconds": wall,
                "ideal": ideal,
                "limit": limit,
                **figures,
            }
            out["latency"].append(row)
            print(
                f"{mode}: {wall:.1f} s vs ideal {ideal:.1f} s "
                f"({wall / ideal:.2f}x), max {figures['max_per_minute']}/min",
                flush=True,
            )
        emu.call("POST", "/emulator/latency", {"mode": "off"})
    out["limits_in_settings"] = settings.PLAID_BALANCE_GET_PER_CLIENT_PER_MINUTE
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(out, indent=1))
    return 0 if write_docs(out) else 1


def write_docs(out: dict[str, Any]) -> bool:
    """Write the sections of targets 2, 3 and 5; record their verdicts; return all met."""
    ok_all = True
    bare = out["bare_rate"]
    client = out["client_rate"]
    multi = out["multi"]
    one = out["cycles"][1]
    ratio_multi = common.ratio(multi["rate"], bare)
    ok = ratio_multi >= CPU_TARGET
    ok_all &= ok
    profile_rows = "\n".join(
        f"| {name} | {share * 100:.0f} % |" for name, share in out.get("profile", [])
    )
    n = out["items"]
    common.write_section(
        "2. Refresh throughput, CPU-bound",
        f"""## 2. Refresh throughput, CPU-bound

`bench/refresh.py` ({common.today()}): {n:,} Items of 5 accounts (ins_3), linked through
`linking.item_link_sandbox` against the emulator (its own process, no injected latency,
balances drifting so every refresh writes), refreshed through real Celery workers
(`--pool threads --concurrency {out["concurrency"]}`), Redis and PostgreSQL. Each refresh is
queued as beat queues it (`queueing.items_queue_refresh`: pending mark, one
`refresh_item_balances` task per Item, published at commit) and runs the real task:
per-Item lock, rate limit, `/accounts/balance/get`, call log, store. The wall time runs from queueing the first refresh to the last one's call-log row.
The rate limits are raised for this benchmark (`PLAID_BALANCE_GET_PER_ITEM_PER_MINUTE=1000`,
`PLAID_BALANCE_GET_PER_CLIENT_PER_MINUTE=10000000` in the workers' environment) so they
never bind; the throttle still runs on every refresh (its Redis round trips are part of
the cost). The bare rate: the same {n:,} calls of plaid-python's `accounts_balance_get`
(a request model in, a response model out) in a tight loop, one thread, no database, no
queue, in the same run. Our client (`client.accounts_balance_get`) reads the accounts
reply itself instead of through the SDK's models (finding 7): its own loop is beside it.

| | refreshes | wall | Items/s | ratio to bare |
|---|---|---|---|---|
| bare plaid-python loop | {n:,} calls | {n / bare:.1f} s | {bare:.0f} calls/s | 1 |
| our client's loop (no database, no queue) | {n:,} calls | {n / client:.1f} s | {client:.0f} calls/s | {common.ratio(client, bare):.2f} |
| 1 worker (the Procfile's default) | {n:,} | {one["seconds"]:.1f} s | {one["rate"]:.0f} | {common.ratio(one["rate"], bare):.2f} |
| {multi["workers"]} workers (one per CPU) | {n:,} | {multi["seconds"]:.1f} s | {multi["rate"]:.0f} | **{ratio_multi:.2f}** |

Linking the {n:,} Items took {out["link_seconds"]:.0f} s. Target: at least {CPU_TARGET} of
the bare rate: {common.verdict(ok)}. Against our client's own loop, the call as the app
makes it, the {multi["workers"]} workers reach {common.ratio(multi["rate"], client):.2f}: the rest of a
refresh, mostly storing it (the profile below), costs more than its call now.

Profile of the single worker during its third cycle of {n:,} refreshes (`py-spy record
--gil`: only the thread holding the GIL is sampled, so the shares are of the worker's
Python CPU time; nested rows overlap; the rest of 100 % beside "the task itself" is
Celery's consumer and thread pool). Raw samples: `var/bench-profile-worker.txt`.

| part of a refresh | share of GIL samples |
|---|---|
{profile_rows}
""",
    )
    report.record(
        2,
        "refresh throughput, CPU-bound: Items/s ≥ 0.5 of the bare plaid-python rate",
        f"{multi['rate']:.0f} Items/s vs bare {bare:.0f} calls/s = {ratio_multi:.2f}",
        ok,
    )

    rss = out["rss"]
    m1, m10 = out["marks"]
    r1, r10 = rss[str(m1)][0], rss[str(m10)][0]
    growth = (r10 - r1) / r1
    ok = growth <= MEMORY_TARGET
    ok_all &= ok
    common.write_section(
        "5. Memory",
        f"""## 5. Memory

`bench/refresh.py` ({common.today()}): the single worker of target 2
(`--pool threads --concurrency {out["concurrency"]}`) refreshing {n:,} Items
{out["refreshes"] // n} times ({out["refreshes"]:,} refreshes); its VmRSS read from
`/proc/<pid>/status` when the call log reached {m1:,} and {m10:,} refreshes.

| | |
|---|---|
| VmRSS after {m1:,} refreshes | {r1 / 1024:.1f} MiB |
| VmRSS after {m10:,} refreshes | {r10 / 1024:.1f} MiB |
| growth | {growth * 100:+.1f} % |
| peak (VmHWM) | {rss["end"][1] / 1024:.1f} MiB |

Target: within {MEMORY_TARGET * 100:.0f} % of the size after {m1:,}: {common.verdict(ok)}.
""",
    )
    report.record(
        5,
        "memory: worker RSS after 10,000 refreshes within 10 % of after 1,000",
        f"{r1 / 1024:.0f} → {r10 / 1024:.0f} MiB ({growth * 100:+.1f} %); peak "
        f"{rss['end'][1] / 1024:.0f} MiB",
        ok,
    )

    if "latency" in out:
        rows = []
        figures = []
        ok3 = True
        for row in out["latency"]:
            r = row["seconds"] / row["ideal"]
            within = row["max_per_minute"] <= row["limit"]
            ok3 &= r <= LATENCY_TARGET and within
            rows.append(
                f"| {row['mode']} | {row['concurrency']} | {row['calls']:,} | "
                f"{row['median_latency']:.2f} / {row['p95_latency']:.2f} / "
                f"{row['max_latency']:.1f} s | {row['mean_latency']:.3f} s | "
                f"{row['ideal']:.1f} s | {row['seconds']:.1f} s | **{r:.2f}x** | "
                f"{row['max_per_minute']:,} ≤ {row['limit']:,} |"
            )
            figures.append(f"{row['mode']} {r:.2f}x")
        ok_all &= ok3
        common.write_section(
            "3. Refresh, latency-bound",
            f"""## 3. Refresh, latency-bound

`bench/refresh.py` ({common.today()}): {out["latency"][0]["calls"]:,} of the Items above,
with the emulator injecting latency on every `/accounts/balance/get` (control endpoint
`POST /emulator/latency`): first a fixed 250 ms, then its realistic distribution
(lognormal, median 3 s, 95th percentile 11 s). One worker, `--pool threads` with the
concurrency in the table (the documented setting `CELERY_CONCURRENCY`, the Procfile's
`--concurrency`); the throttle enforces 5 calls per Item per minute and the per-client
limit in the table (`PLAID_BALANCE_GET_PER_CLIENT_PER_MINUTE`): Plaid's production 1,200
for the realistic run, an explicit 2,400 for the 250 ms run. Each concurrency is chosen so
the ideal call rate (concurrency ÷ mean latency) stays below its limit. With latencies
this spread, the wall exceeds the ideal by about the slowest calls started last (the tail
of the distribution): a lower concurrency makes that tail a smaller share of the run. Latencies are those measured by the app (`PlaidCall.duration_ms`: the
injected sleep plus the HTTP call); the ideal is calls * mean latency / concurrency; "most
calls in a minute" is the busiest 60-second window of the call log.

| latency | concurrency | calls | median / p95 / max | mean | ideal | wall | wall ÷ ideal | most calls in a minute ≤ limit |
|---|---|---|---|---|---|---|---|---|
{chr(10).join(rows)}

Target: at most {LATENCY_TARGET}x the ideal with the per-client limit respected:
{common.verdict(ok3)}.
""",
        )
        report.record(
            3,
            "refresh, latency-bound: wall ≤ 1.3x ideal, rate limit kept",
            ", ".join(figures),
            ok3,
        )
    return ok_all


if __name__ == "__main__":
    threading.current_thread().name = "bench"
    sys.exit(main())
