"""Run every benchmark of issue 8 and write docs/BENCHMARKS.md (`make bench`).

Per run: a fresh PostgreSQL database `finance_bench` on 127.0.0.1:5432 (user postgres,
trust auth; dropped at the end), Redis db 14 with its own queue name and throttle key
prefix, the Plaid emulator as its own process (`python -m plaid_emulator`), and real
`celery -A finance worker` processes, all with an environment pointing at them. Each
target runs as its own process (`bench/<target>.py`), so one run's memory or imports never
skew another's.

Last, `production`: the refresh at production shape (Plaid's latency and limits, one
worker at the Procfile's settings; `bench/production.py`, its own database and Redis db).

Then `cost`: Plaid's bill over a simulated month for a household of four Items
(`bench/cost_month.py`: in process, its own database, no Redis).

Usage: python bench/run.py [--only dashboard,api,alerts,refresh,history,emulator,cost,production]
[--quick]
(`--quick`: small sizes, figures written to var/BENCHMARKS-quick.md, docs left alone)
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import common, report  # noqa: E402

DB_NAME = "finance_bench"
TARGETS = ("emulator", "dashboard", "api", "alerts", "history", "refresh", "cost", "production")


def migrate(env: dict[str, str]) -> None:
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
        cwd=ROOT,
        env=env,
        check=True,
    )


def run_module(name: str, env: dict[str, str], *args: str) -> float:
    """Run bench/<name>.py with `env`; return its wall seconds (raise if it failed)."""
    started = time.perf_counter()
    print(f"== {name}", flush=True)
    code = subprocess.run(
        [sys.executable, str(ROOT / "bench" / f"{name}.py"), *args], cwd=ROOT, env=env
    ).returncode
    if code not in (0, 1):  # 1: ran, a target missed (its verdict says which)
        raise RuntimeError(f"bench/{name}.py failed ({code})")
    return time.perf_counter() - started


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", default=",".join(TARGETS))
    ap.add_argument("--quick", action="store_true", help="small sizes, to try the harness")
    ap.add_argument(
        "--report-only", action="store_true", help="rewrite the summary from the last run"
    )
    args = ap.parse_args()
    if args.report_only:
        last = json.loads((ROOT / "var" / "bench-run.json").read_text())
        ok = report.write(
            durations=last["durations"],
            total=last["total"],
            only=set(TARGETS),
            load=last.get("load", "load average not recorded"),
        )
        return 0 if ok else 1
    if args.quick:
        # Small sizes prove the harness, not the targets: their figures go to var/.
        quick_doc = ROOT / "var" / "BENCHMARKS-quick.md"
        quick_doc.parent.mkdir(exist_ok=True)
        os.environ["BENCH_DOC"] = str(quick_doc)  # the benchmarks' processes inherit it
        common.DOC = quick_doc
        report.VERDICTS = ROOT / "var" / "bench-verdicts-quick.json"
        print(f"--quick: figures go to {quick_doc.relative_to(ROOT)}", flush=True)
    only = set(args.only.split(","))
    if report.VERDICTS.exists() and only == set(TARGETS):
        report.VERDICTS.unlink()  # a full run starts a fresh summary
    started = time.perf_counter()
    load_before = os.getloadavg()
    durations: dict[str, float] = {}
    ok = True

    if "emulator" in only:
        # The existing emulator benchmark starts its own emulator; it writes its section.
        print("== emulator_throughput", flush=True)
        t = time.perf_counter()
        done = subprocess.run(
            [sys.executable, str(ROOT / "bench" / "emulator_throughput.py")],
            cwd=ROOT,
            check=False,
            capture_output=True,
            text=True,
        )
        durations["emulator"] = time.perf_counter() - t
        print(done.stdout, end="", flush=True)
        match = re.search(r"(\d+) replies/s \((\d+) in ([\d.]+) s, (\d+) errors\)", done.stdout)
        figure = f"{match[1]} replies/s, {match[4]} errors" if match else "did not run"
        report.record(
            6,
            "emulator: ≥ 1,000 /accounts/balance/get replies/s, 16 keep-alive clients",
            figure,
            done.returncode == 0,
        )

    # Persistent connections, as README recommends for workers (each task would otherwise
    # open one: a new PostgreSQL backend process per refresh).
    database_url = common.database_create(DB_NAME) + "?conn_max_age=600&conn_health_checks=true"
    emulator = common.Emulator()
    env = common.bench_env(database_url=database_url, emulator_url=emulator.url)
    try:
        migrate(env)
        if "dashboard" in only:
            durations["dashboard"] = run_module(
                "dashboard", env, *(["--accounts-list", "5,20,50"] if args.quick else [])
            )
        if "api" in only:
            durations["api"] = run_module(
                "api", env, *(["--accounts-list", "5,20,50"] if args.quick else [])
            )
        if "alerts" in only:
            durations["alerts"] = run_module(
                "alerts", env, *(["--items", "2", "--rounds", "5"] if args.quick else [])
            )
        if "history" in only:
            durations["history"] = run_module(
                "history", env, *(["--accounts", "50", "--days", "3"] if args.quick else [])
            )
        if "refresh" in only:
            quick = ["--items", "200", "--latency-items", "100"] if args.quick else []
            durations["refresh"] = run_module(
                "refresh", env, "--emulator-url", emulator.url, *quick
            )
    finally:
        emulator.stop()
        common.database_drop(DB_NAME)
        common.redis_cleanup(env)
    if "cost" in only:
        # In process on a compressed clock: its own database and emulator, no Redis.
        print("== cost_month", flush=True)
        t = time.perf_counter()
        code = subprocess.run(
            [
                sys.executable,
                str(ROOT / "bench" / "cost_month.py"),
                *(["--quick"] if args.quick else []),
                "--write-doc",
            ],
            cwd=ROOT,
            check=False,
        ).returncode
        durations["cost"] = time.perf_counter() - t
        ok = ok and code == 0
    if "production" in only:
        # Its own database, Redis db, emulator and worker; bound by Plaid's latency.
        print("== production", flush=True)
        t = time.perf_counter()
        size = ["--quick"] if args.quick else ["--items", "3000"]
        code = subprocess.run(
            [sys.executable, str(ROOT / "bench" / "production.py"), *size, "--write-doc"],
            cwd=ROOT,
            check=False,
        ).returncode
        durations["production"] = time.perf_counter() - t
        ok = ok and code == 0
    total = time.perf_counter() - started
    load = f"load average {load_before[0]:.1f} at the start, {os.getloadavg()[0]:.1f} at the end"
    results: dict[str, Any] = {"durations": durations, "total": total, "load": load}
    (ROOT / "var").mkdir(exist_ok=True)
    (ROOT / "var" / ("bench-run-quick.json" if args.quick else "bench-run.json")).write_text(
        json.dumps(results)
    )
    ok = report.write(durations=durations, total=total, only=only, load=load) and ok
    print(f"make bench: {total:.0f} s in all", flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
