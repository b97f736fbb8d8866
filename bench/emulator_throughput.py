"""Measure /accounts/balance/get replies per second from the Plaid emulator.

Starts ``python -m plaid_emulator --freeze`` in its own process, links one
Item, then runs 16 concurrent keep-alive HTTP clients (stdlib http.client,
spread over several processes so the client GIL is not the bottleneck): a
warm-up, then a fixed measuring window. Prints the figure and writes the
"## Emulator throughput" section of docs/BENCHMARKS.md.

Usage: python bench/emulator_throughput.py [--seconds 5] [--clients 16] [--procs 4]
"""

from __future__ import annotations

import argparse
import datetime as dt
import http.client
import json
import multiprocessing as mp
import os
import platform
import re
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DOC = Path(os.environ.get("BENCH_DOC") or ROOT / "docs" / "BENCHMARKS.md")  # as common.DOC
TARGET = 1000.0
HEADERS = {
    "Content-Type": "application/json",
    "PLAID-CLIENT-ID": "emulator-client-id",
    "PLAID-SECRET": "emulator-secret",
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def post(conn: http.client.HTTPConnection, path: str, body: dict[str, Any]) -> dict[str, Any]:
    conn.request("POST", path, body=json.dumps(body), headers=HEADERS)
    resp = conn.getresponse()
    data: dict[str, Any] = json.loads(resp.read())
    if resp.status != 200:
        raise RuntimeError(f"{path}: {resp.status} {data}")
    return data


def client_proc(port: int, token: str, threads: int, warm: float, secs: float, out: Any) -> None:
    """Run ``threads`` keep-alive clients; report replies counted in the window."""
    import threading

    body = json.dumps({"access_token": token})
    start_at = time.monotonic() + warm
    stop_at = start_at + secs
    counts = [0] * threads
    errors = [0] * threads

    def worker(i: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        while True:
            now = time.monotonic()
            if now >= stop_at:
                break
            conn.request("POST", "/accounts/balance/get", body=body, headers=HEADERS)
            resp = conn.getresponse()
            resp.read()
            if resp.status != 200:
                errors[i] += 1
            elif time.monotonic() >= start_at:
                counts[i] += 1
        conn.close()

    ts = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    out.put((sum(counts), sum(errors)))


def write_section(text: str) -> None:
    DOC.parent.mkdir(parents=True, exist_ok=True)
    doc = DOC.read_text() if DOC.exists() else "# Benchmarks\n"
    pattern = re.compile(r"## Emulator throughput\n.*?(?=\n## |\Z)", re.S)
    if pattern.search(doc):
        doc = pattern.sub(lambda _m: text.rstrip("\n") + "\n", doc)
    else:
        doc = doc.rstrip("\n") + "\n\n" + text
    DOC.write_text(doc.rstrip("\n") + "\n")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--warmup", type=float, default=1.5)
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--procs", type=int, default=4)
    ap.add_argument("--no-write", action="store_true", help="do not update docs/BENCHMARKS.md")
    args = ap.parse_args()
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "plaid_emulator", "--port", str(port), "--freeze"],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                pt = post(
                    conn,
                    "/sandbox/public_token/create",
                    {"institution_id": "ins_3", "initial_products": ["transactions"]},
                )
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        token = post(conn, "/item/public_token/exchange", {"public_token": pt["public_token"]})[
            "access_token"
        ]
        conn.close()
        out: Any = mp.Queue()
        per = [
            args.clients // args.procs + (i < args.clients % args.procs) for i in range(args.procs)
        ]
        procs = [
            mp.Process(target=client_proc, args=(port, token, n, args.warmup, args.seconds, out))
            for n in per
            if n
        ]
        for p in procs:
            p.start()
        results = [out.get() for _ in procs]
        for p in procs:
            p.join()
    finally:
        server.terminate()
        server.wait(timeout=10)
    replies = sum(r[0] for r in results)
    errors = sum(r[1] for r in results)
    rate = replies / args.seconds
    met = "met" if rate >= TARGET and errors == 0 else "missed"
    print(f"{rate:.0f} replies/s ({replies} in {args.seconds:.1f} s, {errors} errors) -> {met}")
    section = (
        "## Emulator throughput\n\n"
        f"`python bench/emulator_throughput.py` ({dt.date.today().isoformat()}): "
        "`POST /accounts/balance/get` against `python -m plaid_emulator --freeze` "
        "(its own process; ins_3, 5 accounts), stdlib keep-alive clients.\n\n"
        "| | |\n|---|---|\n"
        f"| machine | {os.cpu_count()} CPUs (`nproc`), {platform.machine()} {platform.system()} |\n"
        f"| python | {platform.python_version()} |\n"
        f"| clients | {args.clients} keep-alive connections in {len(procs)} processes |\n"
        f"| window | {args.warmup:.1f} s warm-up, then {args.seconds:.1f} s measured |\n"
        f"| replies | {replies} (errors: {errors}) |\n"
        f"| **throughput** | **{rate:.0f} replies/s** |\n"
        f"| target | >= {TARGET:.0f} replies/s: **{met}** |\n"
    )
    if not args.no_write:
        write_section(section)
    return 0 if met == "met" else 1


if __name__ == "__main__":
    sys.exit(main())
