"""Shared helpers of the benchmarks: environment, PostgreSQL, emulator, workers, results.

Pure helpers (no I/O) come first; `tests/bench/test_helpers.py` checks them. The rest
starts and stops the processes a benchmark needs: the emulator (`python -m plaid_emulator`)
and real Celery workers, each in its own process with an environment pointing at the
benchmark's own PostgreSQL database, Redis database and queue.
"""

from __future__ import annotations

import datetime as dt
import http.client
import json
import math
import os
import platform
import re
import socket
import statistics
import subprocess
import sys
import time
import urllib.parse
import uuid
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
# Where the figures go: docs/BENCHMARKS.md, or BENCH_DOC's file (`run.py --quick` sets it,
# so a try of the harness at small sizes never replaces the real figures).
DOC = Path(os.environ.get("BENCH_DOC") or ROOT / "docs" / "BENCHMARKS.md")
PG_URL = "postgres://postgres@127.0.0.1:5432"
REDIS_URL = "redis://127.0.0.1:6379/14"
CLIENT_ID = "emulator-client-id"
SECRET = "emulator-secret"  # noqa: S105 (the emulator's public default)


# --- Pure helpers -------------------------------------------------------------------------


def ratio(numerator: float, denominator: float) -> float:
    """Return numerator / denominator, or inf when the denominator is 0."""
    return numerator / denominator if denominator else math.inf


def ideal_seconds(*, calls: int, mean_latency: float, concurrency: int) -> float:
    """Return the wall time of `calls` calls of `mean_latency` s, `concurrency` at a time."""
    return calls * mean_latency / concurrency


def max_in_window(times: Sequence[float], window: float) -> int:
    """Return the most events in any half-open interval of `window` s (times in s)."""
    ordered = sorted(times)
    best = start = 0
    for end, t in enumerate(ordered):
        while ordered[start] <= t - window:
            start += 1
        best = max(best, end - start + 1)
    return best


def percentile(values: Sequence[float], pct: float) -> float:
    """Return the `pct` percentile (0-100) by linear interpolation."""
    ordered = sorted(values)
    if not ordered:
        raise ValueError("no values")
    k = (len(ordered) - 1) * pct / 100
    lo, hi = math.floor(k), math.ceil(k)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def median(values: Iterable[float]) -> float:
    return float(statistics.median(list(values)))


def verdict(ok: bool) -> str:
    return "**met**" if ok else "**missed**"


def replace_section(doc: str, title: str, text: str) -> str:
    """Return `doc` with the `## title` section replaced by `text` (appended if absent)."""
    pattern = re.compile(rf"## {re.escape(title)}\n.*?(?=\n## |\Z)", re.S)
    body = text.rstrip("\n") + "\n"
    if pattern.search(doc):
        return pattern.sub(lambda _m: body, doc)
    return doc.rstrip("\n") + "\n\n" + body


# --- Documentation ------------------------------------------------------------------------


def write_section(title: str, text: str) -> None:
    """Replace (or add) the `## title` section of docs/BENCHMARKS.md."""
    DOC.parent.mkdir(parents=True, exist_ok=True)
    doc = DOC.read_text() if DOC.exists() else "# Benchmarks\n"
    DOC.write_text(replace_section(doc, title, text).rstrip("\n") + "\n")


def machine() -> str:
    """Describe this machine in one line (CPUs, memory, OS, Python, PostgreSQL)."""
    mem = ""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem = f", {int(line.split()[1]) / 1024 / 1024:.1f} GiB RAM"
    except OSError:
        pass
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = " (" + line.split(":", 1)[1].strip() + ")"
                break
    except OSError:
        pass
    return (
        f"{os.cpu_count()} CPUs{model}{mem}, {platform.system()} {platform.machine()}, "
        f"Python {platform.python_version()}"
    )


def today() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


# --- PostgreSQL ---------------------------------------------------------------------------


def psql(sql: str, db: str = "postgres") -> str:
    """Run one statement with psql as user postgres on 127.0.0.1 (trust auth)."""
    out = subprocess.run(
        ["psql", "-X", "-q", "-t", "-A", "-h", "127.0.0.1", "-U", "postgres", "-d", db, "-c", sql],
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.strip()


def database_create(name: str) -> str:
    """Drop and create database `name`; return its DATABASE_URL."""
    psql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    psql(f'CREATE DATABASE "{name}"')
    return f"{PG_URL}/{name}"


def database_drop(name: str) -> None:
    psql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# --- Processes ----------------------------------------------------------------------------


def redis_cleanup(env: dict[str, str]) -> int:
    """Delete the run's keys from Redis db 14 (throttle state, queue, its bindings)."""
    import redis

    client = redis.Redis.from_url(env["CELERY_BROKER_URL"])
    queue = env["CELERY_TASK_DEFAULT_QUEUE"]
    keys = [*client.scan_iter(match=f"{env['THROTTLE_KEY_PREFIX']}:*"), queue]
    keys += [k for k in client.scan_iter(match="_kombu.binding*") if queue.encode() in k]
    return int(client.delete(*keys))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def bench_env(*, database_url: str, emulator_url: str, **extra: str) -> dict[str, str]:
    """Return the environment of every app process of one benchmark run.

    Throwaway keys, the run's own database, Redis db 14 with its own queue and throttle key
    prefix (nothing shared with a running app or the tests' db 15), the emulator as Plaid.
    """
    from cryptography.fernet import Fernet

    run = uuid.uuid4().hex[:8]
    env = os.environ.copy()
    env.update(
        DJANGO_SETTINGS_MODULE="finance.settings",
        SECRET_KEY="bench-" + Fernet.generate_key().decode(),
        FIELD_ENCRYPTION_KEY=Fernet.generate_key().decode(),
        DATABASE_URL=database_url,
        CELERY_BROKER_URL=REDIS_URL,
        CELERY_TASK_DEFAULT_QUEUE=f"bench-{run}",
        THROTTLE_KEY_PREFIX=f"bench-{run}",
        PLAID_HOST=emulator_url,
        PLAID_CLIENT_ID=CLIENT_ID,
        PLAID_SECRET=SECRET,
        PLAID_ENV="sandbox",
        LOG_LEVEL="WARNING",
        SECURE_SSL_REDIRECT="false",
        PYTHONPATH=str(ROOT),
    )
    env.update(extra)
    return env


class Emulator:
    """`python -m plaid_emulator` in its own process, with its control endpoint."""

    def __init__(self, *args: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "plaid_emulator", "--port", str(self.port), *args],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 15
        while True:
            try:
                self.call("GET", "/emulator/stats")
                break
            except OSError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    raise
                time.sleep(0.1)

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            conn.request(
                method,
                path,
                body=json.dumps(body or {}),
                headers={
                    "Content-Type": "application/json",
                    "PLAID-CLIENT-ID": CLIENT_ID,
                    "PLAID-SECRET": SECRET,
                },
            )
            resp = conn.getresponse()
            data = json.loads(resp.read() or b"{}")
        finally:
            conn.close()
        if resp.status != 200:
            raise RuntimeError(f"emulator {path}: HTTP {resp.status} {data}")
        return data

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def worker_start(
    env: dict[str, str], *, name: str, concurrency: int, pool: str = "threads"
) -> subprocess.Popen[bytes]:
    """Start one real `celery -A finance worker` on the run's queue."""
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "finance",
            "worker",
            "--hostname",
            f"{name}@%h",
            "--pool",
            pool,
            "--concurrency",
            str(concurrency),
            "--queues",
            env["CELERY_TASK_DEFAULT_QUEUE"],
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            "-l",
            "warning",
        ],
        cwd=ROOT,
        env=env,
    )


def worker_stop(worker: subprocess.Popen[bytes]) -> None:
    worker.terminate()
    try:
        worker.wait(timeout=30)
    except subprocess.TimeoutExpired:
        worker.kill()
        worker.wait()


def proc_memory_kib(pid: int) -> tuple[int, int]:
    """Return (VmRSS, VmHWM) of process `pid` in KiB, from /proc/<pid>/status."""
    fields: dict[str, int] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            fields[key] = int(value.split()[0])
    return fields["VmRSS"], fields["VmHWM"]


def db_name_from_url(url: str) -> str:
    return urllib.parse.urlparse(url).path.lstrip("/")


# --- Profiles -----------------------------------------------------------------------------

# Frames worth naming in a profile of a refresh (substring of py-spy's "function (file)").
PROFILE_BUCKETS = (
    ("Plaid SDK call (client.accounts_balance_get)", "accounts_balance_get (balances/"),
    ("  of which urllib3 HTTP round trip", "urlopen (urllib3/"),
    ("  of which SDK model deserialization", "deserialize (plaid/"),
    ("call log and store (store.item_store_fetched)", "item_store_fetched (balances/"),
    ("  of which store balances (store.item_store_balances)", "item_store_balances (balances/"),
    ("shared state: Redis round trips (balances/shared_state/)", "(balances/shared_state/"),
    ("database connect (Django connect)", "connect (django/db/backends/base/base.py"),
    ("database close (close_old_connections)", "close_old_connections (django/"),
    ("SQL execute (all)", "execute (django/db/backends/utils.py"),
    ("token decrypt (Fernet)", "decrypt (cryptography/"),
    ("Celery task protocol and acks", "(kombu/"),
    ("the task itself (refresh_item_balances)", "refresh_item_balances (balances/tasks.py"),
)


def profile_shares(raw: str) -> list[tuple[str, float]]:
    """Return (bucket, share of busy samples) from py-spy's raw (collapsed) output.

    A sample counts as busy unless its innermost frame waits (a lock, a socket read, the
    thread pool's queue): threads idle in the pool would otherwise dominate. With
    `py-spy --gil` every sample is busy already (only the GIL holder is sampled).
    """
    idle = (
        "wait (threading.py",
        "_wait_for_tstate_lock",
        "get (queue.py",
        "select (",
        "poll (",
        "recv_into",
        "readinto (socket.py",
        "accept (",
    )
    busy = 0
    counts = dict.fromkeys((name for name, _ in PROFILE_BUCKETS), 0)
    for line in raw.splitlines():
        stack, _, n = line.rpartition(" ")
        if not stack or not n.isdigit():
            continue
        frames = stack.split(";")
        if any(marker in frames[-1] for marker in idle):
            continue
        busy += int(n)
        for name, marker in PROFILE_BUCKETS:
            if marker in stack:
                counts[name] += int(n)
    return [(name, ratio(c, busy)) for name, c in counts.items()] if busy else []
