"""Refresh at production shape: beat's fan-out, one worker, Plaid's latency and limits.

`python bench/production.py [--items N] [--quick] [--write-doc]`; `make bench` runs it with
3,000 Items (about 8 minutes: linking, a warm-up, then about 2.5 minutes bound by Plaid's
1,200 calls a minute).
Its own PostgreSQL database `finance_bench_prod` (dropped at the end), Redis db 13 with its
own queue name and throttle key prefix (never the tests' db 15 nor the other benchmarks'
db 14), the Plaid emulator in its own process, and ONE real worker at the Procfile's
settings: `celery -A finance worker --loglevel info --pool threads --concurrency 96`, the
settings' prefetch and CELERY_WORKER_SWITCH_INTERVAL, production logging (LOG_LEVEL=INFO,
JSON lines, to a file), a database pool of 20 connections (DATABASE_POOL_SIZE).

Shape: the emulator's realistic latency on `/accounts/balance/get` (lognormal, median 3 s,
p95 11 s: Plaid production's), Plaid's production limits set explicitly in the worker's
environment (PLAID_BALANCE_GET_PER_CLIENT_PER_MINUTE=1200, per Item 5) and enforced by the
emulator as well (a call over them would fail with RATE_LIMIT_EXCEEDED).

Goals: calls a minute at least 0.95 of the client limit while it binds and never above it;
worker CPU at most a quarter of a core; RSS at most 200 MiB.

Steps:
1. link `--items` Items (ins_3, a few accounts each) through the emulator's HTTP API
   (`/sandbox/public_token/create` + `/item/public_token/exchange`) and store them with
   `balances.models` only; a warm-up refresh of each (latency off) creates their accounts,
   so the measured run only updates balances;
2. publish `balances.tasks.refresh_all_items` as beat does: the fan-out marks each Item
   pending and queues one `refresh_item_balances` task per Item.

Tasks are published by name (`send_task`), so the bench does not depend on where the
services live inside `balances`. Measured: wall from the publish to the last Item's
`last_refreshed_at`, the worker's CPU (utime + stime of its process tree from /proc, before
and after) per refresh, calls per minute (overall and the busiest 60 s of
`PlaidCall.called_at`), call latency (`PlaidCall.duration_ms`) and the tasks the worker
received (from its log). Raw figures: `var/bench-production.json`.

The same harness, at the commit before the batched refresh path was removed, compared that
path with single-Item tasks (2,000 Items): the figures and the decision are finding 10 of
docs/BENCHMARKS.md (`bench/report.py`).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import re
import subprocess
import sys
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import common  # noqa: E402

RESULTS = ROOT / "var" / "bench-production.json"
LOG_DIR = ROOT / "var"
DB_NAME = "finance_bench_prod"
REDIS_URL = "redis://127.0.0.1:6379/13"
TITLE = "Refresh at production shape"
SINGLE_TASK = "balances.tasks.refresh_item_balances"
FANOUT_TASK = "balances.tasks.refresh_all_items"
CONCURRENCY = 96  # the Procfile's ${CELERY_CONCURRENCY:-96}
ITEMS_PER_USER = 4  # households of four banks (issue 20), not one user owning every Item
POOL_SIZE = 20  # DATABASE_POOL_SIZE: the worker's threads share these connections
# Goals at this shape: the client limit reached while it binds, a quarter core, 200 MiB.
GOAL_RATE_SHARE = 0.95
GOAL_CPU_CORES = 0.25
GOAL_RSS_MIB = 200
PER_CLIENT = 1200  # Plaid production, /accounts/balance/get per client per minute
PER_ITEM = 5  # Plaid production, per Item per minute
CLK_TCK = os.sysconf("SC_CLK_TCK")


# --- Pure helpers -------------------------------------------------------------------------


def lognormal_figures(mu: float, sigma: float) -> dict[str, float]:
    """Median, mean and p95 (seconds) of a lognormal given in milliseconds."""
    return {
        "median": math.exp(mu) / 1000,
        "mean": math.exp(mu + sigma * sigma / 2) / 1000,
        "p95": math.exp(mu + 1.6449 * sigma) / 1000,
    }


# --- Processes ----------------------------------------------------------------------------


def tree_cpu_seconds(pid: int) -> float:
    """Return utime + stime (and reaped children's) of `pid` and its descendants, in s."""
    stats: dict[int, tuple[int, float]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            raw = (entry / "stat").read_text()
        except OSError:
            continue
        fields = raw[raw.rfind(")") + 2 :].split()
        # fields[0] is field 3 (state): ppid 4, utime 14, stime 15, cutime 16, cstime 17.
        ticks = sum(int(fields[i]) for i in (11, 12, 13, 14))
        stats[int(entry.name)] = (int(fields[1]), ticks / CLK_TCK)
    total, todo, seen = 0.0, [pid], set()
    while todo:
        p = todo.pop()
        if p in seen or p not in stats:
            continue
        seen.add(p)
        total += stats[p][1]
        todo += [c for c, (ppid, _) in stats.items() if ppid == p]
    return total


def worker_start(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """Start the Procfile's worker (threads pool, concurrency 8, loglevel info) on the run's
    queue, its output to `log`."""
    out = log.open("wb")
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "finance",
            "worker",
            "--hostname",
            f"prod-{os.getpid()}@%h",
            "--loglevel",
            "info",
            "--pool",
            "threads",
            "--concurrency",
            env["CELERY_CONCURRENCY"],
            "--queues",
            env["CELERY_TASK_DEFAULT_QUEUE"],
        ],
        cwd=ROOT,
        env=env,
        stdout=out,
        stderr=subprocess.STDOUT,
    )


def task_counts(log: Path) -> dict[str, int]:
    """Count the tasks the worker received, by name."""
    text = log.read_text(errors="replace") if log.exists() else ""
    received = Counter(re.findall(r"Task (balances\.tasks\.\w+)\[[^\]]+\] received", text))
    return {name.rsplit(".", 1)[1]: n for name, n in received.items()}


def redis_clear(env: dict[str, str]) -> int:
    """Delete the run's throttle keys (pending marks, locks, rate windows) from db 13."""
    import redis

    client = redis.Redis.from_url(env["CELERY_BROKER_URL"])
    keys = list(client.scan_iter(match=f"{env['THROTTLE_KEY_PREFIX']}:*", count=1000))
    return int(client.delete(*keys)) if keys else 0


# --- Items --------------------------------------------------------------------------------


def link_items(emu: common.Emulator, n: int, threads: int = 8) -> list[int]:
    """Create `n` ins_3 Items at the emulator and store them (models only), owned by
    households of ITEMS_PER_USER Items (the issue's household of four banks); return ids.

    Who owns the Items matters since alerts are evaluated after each refresh: that costs
    in proportion to the owner's accounts, so one user owning all 3,000 Items (15,000
    accounts) made every refresh read all of them (95% of the worker's GIL time).
    """
    from django.contrib.auth.models import User
    from django.db import connection

    from balances.models import PlaidItem

    users = User.objects.bulk_create(
        [User(username=f"bench-prod-{i}") for i in range(-(-n // ITEMS_PER_USER))]
    )
    name = emu.call(
        "POST", "/institutions/get_by_id", {"institution_id": "ins_3", "country_codes": ["US"]}
    )
    inst_name = name["institution"]["name"]

    def one(_i: int) -> tuple[str, str]:
        pt = emu.call(
            "POST",
            "/sandbox/public_token/create",
            {"institution_id": "ins_3", "initial_products": ["transactions"]},
        )["public_token"]
        ex = emu.call("POST", "/item/public_token/exchange", {"public_token": pt})
        return ex["item_id"], ex["access_token"]

    with ThreadPoolExecutor(threads) as pool:
        pairs = list(pool.map(one, range(n)))
    items = []
    for i, (item_id, token) in enumerate(pairs):
        item = PlaidItem(
            owner=users[i // ITEMS_PER_USER],
            plaid_item_id=item_id,
            institution_id="ins_3",
            institution_name=inst_name,
        )
        item.access_token = token
        items.append(item)
    PlaidItem.objects.bulk_create(items, batch_size=500)
    connection.close()
    return sorted(
        PlaidItem.objects.filter(owner__username__startswith="bench-prod-").values_list(
            "pk", flat=True
        )
    )


def refreshed_count(since: dt.datetime) -> int:
    from balances.models import PlaidItem

    return PlaidItem.objects.filter(last_refreshed_at__gte=since).count()


def reset_items() -> None:
    """Forget earlier requests (`refresh_requested_at`) and beat's last fan-out claim."""
    from balances.models import BeatRun, PlaidItem

    PlaidItem.objects.update(refresh_requested_at=None)
    BeatRun.objects.filter(task=FANOUT_TASK).delete()


def publish(app: Any, mode: str, item_ids: list[int]) -> None:
    """Publish beat's fan-out (`mode` "fanout"), or one refresh per Item ("warm-up")."""
    if mode == "fanout":
        app.send_task(FANOUT_TASK)
    else:
        with app.producer_or_acquire() as producer:
            for item_id in item_ids:
                app.send_task(
                    SINGLE_TASK, args=[item_id], kwargs={"realtime": True}, producer=producer
                )


def wait_refreshed(n: int, since: dt.datetime, *, timeout: float, label: str) -> int:
    """Poll until `n` Items were refreshed since `since` (or `timeout` s); return the count."""
    started = time.monotonic()
    last_print = 0.0
    done = 0
    while time.monotonic() - started < timeout:
        done = refreshed_count(since)
        if done >= n:
            return done
        if time.monotonic() - last_print >= 30:
            last_print = time.monotonic()
            print(f"  {label}: {done}/{n} after {time.monotonic() - started:.0f} s", flush=True)
        time.sleep(1.0)
    return done


def call_figures(since: dt.datetime, start_id: int) -> dict[str, Any]:
    """The call log's figures for calls after `start_id`."""
    from django.db.models import Max

    from balances.models import PlaidCall, PlaidItem

    rows = list(
        PlaidCall.objects.filter(pk__gt=start_id).values_list(
            "item_id", "called_at", "duration_ms", "error_code"
        )
    )
    ok = [r for r in rows if not r[3]]
    durations = [r[2] / 1000 for r in ok if r[2] is not None]
    times = [r[1].timestamp() for r in ok]
    # When each call reached Plaid (its reply's time less its duration): what Plaid counts.
    starts = sorted(r[1].timestamp() - (r[2] or 0) / 1000 for r in rows)
    lo, hi = int(len(starts) * 0.05), int(len(starts) * 0.95) - 1
    sustained = (hi - lo) / (starts[hi] - starts[lo]) * 60 if hi > lo else 0.0
    last = PlaidItem.objects.filter(last_refreshed_at__gte=since).aggregate(
        m=Max("last_refreshed_at")
    )["m"]
    return {
        "calls": len(rows),
        "errors": len(rows) - len(ok),
        "error_codes": dict(Counter(r[3] for r in rows if r[3])),
        "items_called": len({r[0] for r in rows}),
        "mean_latency": sum(durations) / len(durations) if durations else 0.0,
        "median_latency": common.median(durations) if durations else 0.0,
        "p95_latency": common.percentile(durations, 95) if durations else 0.0,
        "max_latency": max(durations, default=0.0),
        "best_minute": common.max_in_window(times, 60.0),
        "best_minute_starts": common.max_in_window(starts, 60.0),
        # Calls a minute between the 5th and the 95th percentile of the starts: the rate
        # while the client limit binds (not the ramp up or the last replies).
        "sustained_per_min": sustained,
        "first_call": min(times, default=0.0) - since.timestamp(),
        "last_refreshed": (last - since).total_seconds() if last else None,
    }


def run_mode(
    app: Any, env: dict[str, str], mode: str, item_ids: list[int], *, timeout: float
) -> dict[str, Any]:
    """Refresh every Item once in `mode` with a fresh worker; return its figures."""
    from django.utils import timezone

    from balances.models import PlaidCall

    reset_items()
    redis_clear(env)
    log = LOG_DIR / f"bench-production-worker-{mode}.log"
    worker = worker_start(env, log)
    try:
        time.sleep(6)  # boot (imports, broker, mingle) while nothing is queued
        if worker.poll() is not None:
            raise RuntimeError(f"worker exited ({worker.returncode}); see {log}")
        idle0 = tree_cpu_seconds(worker.pid)
        time.sleep(5)
        idle_rate = (tree_cpu_seconds(worker.pid) - idle0) / 5
        start_id = PlaidCall.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
        cpu0 = tree_cpu_seconds(worker.pid)
        since = timezone.now()
        t0 = time.perf_counter()
        p0 = time.process_time()
        publish(app, mode, item_ids)
        publish_cpu = time.process_time() - p0
        publish_s = time.perf_counter() - t0
        done = wait_refreshed(len(item_ids), since, timeout=timeout, label=mode)
        polled_wall = time.perf_counter() - t0
        cpu = tree_cpu_seconds(worker.pid) - cpu0
        rss, hwm = common.proc_memory_kib(worker.pid)
        time.sleep(2)  # let the last tasks' acks and logs land
    finally:
        common.worker_stop(worker)
    figures = call_figures(since, start_id)
    wall = figures["last_refreshed"] or polled_wall
    row = {
        "mode": mode,
        "items": len(item_ids),
        "refreshed": done,
        "complete": done >= len(item_ids),
        "publish_seconds": publish_s,
        # The bench process's CPU to publish one fan-out (its marking and publishing run,
        # and are counted, in the worker).
        "publish_cpu": publish_cpu,
        "wall": wall,
        "polled_wall": polled_wall,
        "worker_cpu": cpu,
        "worker_idle_cpu_per_s": idle_rate,
        "cpu_per_refresh": cpu / max(done, 1),
        "calls_per_min": figures["calls"] / wall * 60 if wall else 0.0,
        # Bound by the threads (Items x mean latency / threads) or by the client limit.
        "ideal": max(
            common.ideal_seconds(
                calls=len(item_ids), mean_latency=figures["mean_latency"], concurrency=CONCURRENCY
            ),
            len(item_ids) / PER_CLIENT * 60,
        ),
        "cpu_cores": cpu / wall if wall else 0.0,
        "rate_share": figures["sustained_per_min"] / PER_CLIENT,
        "rss_kib": rss,
        "hwm_kib": hwm,
        "tasks": task_counts(log),
        **figures,
    }
    print(
        f"{mode}: {done}/{len(item_ids)} Items in {wall:.1f} s (ideal {row['ideal']:.1f} s); "
        f"worker CPU {cpu:.1f} s = {row['cpu_per_refresh'] * 1000:.1f} ms/refresh; "
        f"{row['calls_per_min']:.0f} calls/min (best 60 s {figures['best_minute']}); latency "
        f"median {figures['median_latency']:.2f} s p95 {figures['p95_latency']:.2f} s; "
        f"tasks {row['tasks']}; errors {figures['error_codes']}",
        flush=True,
    )
    row["goals"] = goals(row)
    print(
        f"rate {figures['sustained_per_min']:.0f}/min sustained = {row['rate_share']:.3f} of "
        f"{PER_CLIENT} (best 60 s of starts {figures['best_minute_starts']}); worker "
        f"{row['cpu_cores']:.3f} cores, RSS {rss / 1024:.0f} MiB; goals {row['goals']}",
        flush=True,
    )
    if not row["complete"]:
        raise RuntimeError(f"{mode}: only {done} of {len(item_ids)} Items after {timeout:.0f} s")
    return row


def rate_limit_errors(row: dict[str, Any]) -> int:
    """Return the calls the emulator refused for a rate limit (per Item or per client: its
    error codes, as Plaid's; RATE_LIMIT_EXCEEDED is their error type, never a code)."""
    from plaid_emulator.ratelimit import CODES

    codes = {code for pair in CODES.values() for code in pair} | {"RATE_LIMIT_EXCEEDED"}
    return sum(n for code, n in row["error_codes"].items() if code in codes)


def goals(row: dict[str, Any]) -> dict[str, bool]:
    """Which goals a run met. "Never above the limit" is Plaid's own count: the emulator
    enforces the production limits in fixed minute windows and would have answered
    RATE_LIMIT_EXCEEDED (the best 60 s of start times, reply time less duration, is only
    approximate: a call starts a few ms after the app counted it)."""
    return {
        "rate": row["rate_share"] >= GOAL_RATE_SHARE and not rate_limit_errors(row),
        "cpu": row["cpu_cores"] <= GOAL_CPU_CORES,
        "rss": row["rss_kib"] / 1024 <= GOAL_RSS_MIB,
    }


def warm_up(app: Any, env: dict[str, str], emu: common.Emulator, item_ids: list[int]) -> float:
    """Refresh each Item once without latency (creates its accounts); return the seconds."""
    from django.utils import timezone

    emu.call("POST", "/emulator/latency", {"mode": "off"})
    log = LOG_DIR / "bench-production-worker-warmup.log"
    worker = worker_start(env, log)
    try:
        time.sleep(6)
        since = timezone.now()
        t0 = time.perf_counter()
        publish(app, "warm-up", item_ids)
        done = wait_refreshed(len(item_ids), since, timeout=600, label="warm-up")
    finally:
        common.worker_stop(worker)
    if done < len(item_ids):
        raise RuntimeError(f"warm-up: only {done} of {len(item_ids)} Items refreshed")
    return time.perf_counter() - t0


# --- Main ---------------------------------------------------------------------------------


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--items", type=int, default=3000)
    ap.add_argument("--quick", action="store_true", help="100 Items, to try the harness")
    ap.add_argument("--timeout", type=float, default=0, help="per mode, s (default 4x ideal)")
    ap.add_argument("--write-doc", action="store_true", help="also update docs/BENCHMARKS.md")
    ap.add_argument(
        "--switch-interval", type=float, default=0, help="the worker's, s (default: settings')"
    )
    args = ap.parse_args()
    n = 100 if args.quick else args.items
    modes = ["fanout"]

    from plaid_emulator import faults

    expected = lognormal_figures(faults.BALANCE_MU, faults.BALANCE_SIGMA)
    timeout = args.timeout or max(300.0, 4 * n * expected["mean"] / CONCURRENCY)

    # A pool shared by the worker's 96 threads (README): persistent connections, one per
    # thread, would take 96 of PostgreSQL's 100.
    database_url = common.database_create(DB_NAME)
    emu = common.Emulator()
    env = common.bench_env(
        database_url=database_url,
        emulator_url=emu.url,
        CELERY_BROKER_URL=REDIS_URL,
        THROTTLE_REDIS_URL=REDIS_URL,
        PLAID_ENV="sandbox",  # the emulator; every limit below is set explicitly
        PLAID_BALANCE_GET_PER_CLIENT_PER_MINUTE=str(PER_CLIENT),
        PLAID_BALANCE_GET_PER_ITEM_PER_MINUTE=str(PER_ITEM),
        PLAID_ACCOUNTS_GET_PER_CLIENT_PER_MINUTE="15000",
        PLAID_ACCOUNTS_GET_PER_ITEM_PER_MINUTE="15",
        BALANCE_SCHEDULED_SOURCE="realtime",
        CELERY_CONCURRENCY=str(CONCURRENCY),
        DATABASE_POOL_SIZE=str(POOL_SIZE),
        LOG_LEVEL="INFO",
    )
    for key in ("CELERY_WORKER_SWITCH_INTERVAL", "CELERY_WORKER_PREFETCH_MULTIPLIER", "LOG_FORMAT"):
        env.pop(key, None)  # the settings' defaults, as in production
    if args.switch_interval:
        env["CELERY_WORKER_SWITCH_INTERVAL"] = str(args.switch_interval)
    env["CELERY_TASK_DEFAULT_QUEUE"] = env["CELERY_TASK_DEFAULT_QUEUE"].replace("bench-", "prod-")
    env["THROTTLE_KEY_PREFIX"] = env["THROTTLE_KEY_PREFIX"].replace("bench-", "prod-")
    os.environ.update(env)
    out: dict[str, Any] = {
        "date": common.today(),
        "machine": common.machine(),
        "items": n,
        "concurrency": CONCURRENCY,
        "pool_size": POOL_SIZE,
        "items_per_user": ITEMS_PER_USER,
        "limits": {"per_client": PER_CLIENT, "per_item": PER_ITEM},
        "emulator_realistic_by_design": expected,
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "load_before": os.getloadavg(),
        "modes": [],
    }
    try:
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
            cwd=ROOT,
            env=env,
            check=True,
        )
        import django

        django.setup()
        from django.conf import settings

        from finance.celery import app

        out["settings"] = {
            "prefetch_multiplier": settings.CELERY_WORKER_PREFETCH_MULTIPLIER,
            "switch_interval": settings.CELERY_WORKER_SWITCH_INTERVAL,
            "per_client": settings.PLAID_BALANCE_GET_PER_CLIENT_PER_MINUTE,
            "per_item": settings.PLAID_BALANCE_GET_PER_ITEM_PER_MINUTE,
        }
        t0 = time.perf_counter()
        emu.call("POST", "/emulator/latency", {"mode": "off"})
        item_ids = link_items(emu, n)
        out["link_seconds"] = time.perf_counter() - t0
        print(f"linked {len(item_ids)} Items in {out['link_seconds']:.1f} s", flush=True)
        out["warmup_seconds"] = warm_up(app, env, emu, item_ids)
        from balances.models import Account

        out["accounts"] = Account.objects.count()
        print(
            f"warm-up: {out['accounts']} accounts created in {out['warmup_seconds']:.1f} s; "
            f"timeout per mode {timeout:.0f} s",
            flush=True,
        )
        emu.call("POST", "/emulator/latency", {"mode": "realistic"})
        # The emulator enforces Plaid's production limits too (fixed minute windows): a
        # call above 1,200 a minute would fail with RATE_LIMIT_EXCEEDED.
        emu.call("POST", "/emulator/rate-limits", {"mode": "production"})
        for mode in modes:
            out["modes"].append(run_mode(app, env, mode, item_ids, timeout=timeout))
            RESULTS.parent.mkdir(parents=True, exist_ok=True)
            RESULTS.write_text(json.dumps(out, indent=1, default=str))
        emu.call("POST", "/emulator/latency", {"mode": "off"})
    finally:
        out["load_after"] = os.getloadavg()
        emu.stop()
        from django.db import connections

        connections.close_all()
        common.database_drop(DB_NAME)
        try:
            redis_clear(env)
            common.redis_cleanup(env)
        except Exception as exc:
            print(f"redis cleanup: {exc}", flush=True)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(out, indent=1, default=str))
    text = markdown(out)
    print(text, flush=True)
    met = bool(out["modes"]) and all(all(r["goals"].values()) for r in out["modes"])
    if args.write_doc:
        common.write_section(TITLE, text)
        if out["modes"]:
            r = out["modes"][0]
            from bench import report

            report.record(
                9,
                f"production shape: one worker, {out['items']:,} Items: ≥ "
                f"{GOAL_RATE_SHARE} of {PER_CLIENT:,} calls/min while the limit binds, never "
                f"above; ≤ {GOAL_CPU_CORES} core; ≤ {GOAL_RSS_MIB} MiB RSS",
                f"{r['sustained_per_min']:.0f}/min = {r['rate_share']:.2f} (best 60 s "
                f"{r['best_minute_starts']}, {rate_limit_errors(r)} "
                f"rate-limit errors); {r['cpu_cores']:.2f} core; {r['rss_kib'] / 1024:.0f} MiB",
                met,
            )
    return 0 if met else 1


def markdown(out: dict[str, Any]) -> str:
    """Render the section of docs/BENCHMARKS.md from the raw figures."""
    lines = []
    lines_goals = ""
    for r in out["modes"]:
        t = r["tasks"]
        tasks = (
            f"{t.get('refresh_all_items', 0)} fan-out, {t.get('refresh_item_balances', 0)} refresh"
        )
        lines.append(
            f"| {r['items']:,} | {r['wall']:.0f} s | {r['ideal']:.0f} s | "
            f"{r['wall'] / r['ideal']:.2f}x | {r['sustained_per_min']:.0f} "
            f"({r['rate_share']:.3f}) | {r['best_minute_starts']} | "
            f"{rate_limit_errors(r)} | "
            f"{r['cpu_cores']:.3f} ({r['cpu_per_refresh'] * 1000:.1f} ms/refresh) | "
            f"{r['rss_kib'] / 1024:.0f} / {r['hwm_kib'] / 1024:.0f} MiB | "
            f"{r['median_latency']:.2f} / {r['p95_latency']:.2f} s | {tasks} |"
        )
        goals = r["goals"]
        lines_goals = (
            f"Goals: at least {GOAL_RATE_SHARE} of {PER_CLIENT:,} calls a minute while the "
            f"limit binds and never above it: {common.verdict(goals['rate'])}; worker CPU at "
            f"most {GOAL_CPU_CORES} core: {common.verdict(goals['cpu'])}; RSS at most "
            f"{GOAL_RSS_MIB} MiB: {common.verdict(goals['rss'])}."
        )
    d = out["emulator_realistic_by_design"]
    obs = ", ".join(
        f"median {r['median_latency']:.2f} s, mean {r['mean_latency']:.2f} s, "
        f"p95 {r['p95_latency']:.2f} s, max {r['max_latency']:.1f} s"
        for r in out["modes"]
    )
    st = out["settings"]
    intro = " ".join(
        [
            f"`bench/production.py` ({out['date']}; {out['machine']}):",
            f"{out['items']:,} Items (ins_3, {out.get('accounts', 0) // max(out['items'], 1)}",
            "accounts each; owned by households of",
            f"{out.get('items_per_user', ITEMS_PER_USER)} Items: alerts are evaluated after each",
            "refresh over the owner's accounts) refreshed once through beat's fan-out",
            "(`refresh_all_items`: each",
            "Item marked pending and queued as its own `refresh_item_balances` task) by ONE",
            f"worker at the Procfile's settings (`--pool threads --concurrency {out['concurrency']}`,",
            f"prefetch multiplier {st['prefetch_multiplier']}, switch interval",
            f"{st['switch_interval']} s, `--loglevel info`, LOG_LEVEL=INFO JSON lines), Plaid's",
            f"production limits set explicitly ({out['limits']['per_client']:,} calls per client",
            f"and {out['limits']['per_item']} per Item per minute) and the emulator's realistic",
            "latency on `/accounts/balance/get` (by design lognormal, median",
            f"{d['median']:.1f} s, mean {d['mean']:.2f} s, p95 {d['p95']:.1f} s; observed by",
            f"the app: {obs}). Wall: from the publish to the last Item's `last_refreshed_at`;",
            f"ideal: Items x mean latency / {out['concurrency']} threads; worker CPU: utime +",
            "stime of the worker process tree from /proc, before and after (the fan-out's",
            "included); calls per minute overall and in the busiest 60 s of",
            "`PlaidCall.called_at`; the emulator enforces Plaid's production limits too (a",
            "call above them fails RATE_LIMIT_EXCEEDED). Calls a minute: between the 5th and",
            "95th percentile of the calls' start times (reply time less duration: what Plaid",
            "counts), i.e. while the client limit binds; best 60 s: the most starts in any",
            "60 s (approximate: a call starts a few ms after the app counted it; Plaid's own",
            "count is the emulator's rate-limit errors). CPU: worker CPU seconds over the wall (cores). RSS: the worker's at the end",
            f"/ its peak. Database: a pool of {out.get('pool_size', POOL_SIZE)} connections",
            "(`DATABASE_POOL_SIZE`) shared by the threads; a refresh gives its connection",
            "back while Plaid answers.",
        ]
    )
    return f"""## {TITLE}

{intro}

| Items | wall | ideal | wall ÷ ideal | calls/min (share of the limit) | best 60 s | rate-limit errors | worker CPU, cores | RSS end / peak | latency median / p95 | tasks |
|---|---|---|---|---|---|---|---|---|---|---|
{chr(10).join(lines)}

{lines_goals}
"""


if __name__ == "__main__":
    threading.current_thread().name = "bench"
    sys.exit(main())
