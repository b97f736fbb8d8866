"""The summary at the top of docs/BENCHMARKS.md, from the verdicts each target left.

Each benchmark writes its own section and `var/bench-verdicts.json` entries
(`record`): target number, title, the figure, met or not.
"""

from __future__ import annotations

import json
import os
from typing import Any

from bench import common

# A quick run (BENCH_DOC set: `run.py --quick`) keeps its verdicts apart from the real ones.
VERDICTS = (
    common.ROOT
    / "var"
    / ("bench-verdicts-quick.json" if os.environ.get("BENCH_DOC") else "bench-verdicts.json")
)
INTRO = """# Benchmarks

`make bench` (`python bench/run.py`) measures the six targets of issue 8 on this machine,
then the refresh at production shape (Plaid's latency and limits; last section), and
rewrites this file. Every target is a ratio or a count taken within one run, so it
holds on a noisy machine; absolute times are beside it. How each is measured: the section
of each target below, and `bench/README.md`.
"""


FINDINGS = """## Findings and fixes

Profiles taken while building these benchmarks (2026-11-24, this machine), and what was
changed in the app because of them:

1. **Storing a refresh cost more than the Plaid call.** cProfile of 100 in-process
   refreshes: Django's `bulk_update` of 13 fields on 5 accounts (a `CASE WHEN` per row and
   field) took 1.7 s of 2.7 s. Fixed: `balances/services/bulk.py` (`update_changed`, used
   by `store.item_store_balances`) writes only the fields that changed, with one plain
   `UPDATE` for values every row shares (timestamps) and `bulk_update` only for values
   that differ per row. An in-process refresh went from 11.8 ms to 8.5 ms; one worker
   refreshing 1,000 Items with drifting balances from 47 to 80-98 Items/s (the same
   harness, run minutes apart).
2. **Every task opened a database connection** (Django's default `CONN_MAX_AGE=0`): 10 %
   of the worker's GIL samples, plus a new PostgreSQL backend process per refresh. Fixed
   by configuration, no code: `DATABASE_URL=...?conn_max_age=600&conn_health_checks=true`
   (README, `.env.example`); the benchmarks run with it.
3. **plaid-python kept at most 10 connections** (5 per CPU): a worker with more threads
   logged "Connection pool is full, discarding connection" and reconnected on every call.
   Fixed: `PLAID_CONNECTION_POOL_SIZE` (default 64) sizes the SDK's pool.
4. **Target 1 was missed by 24.5x; it is met now by a design change.** Query counts were
   flat, but the work was not: the daily net-worth history read every account's snapshots
   of the range (accounts x days rows) and summed them in Python (64 % of the request), and
   the page rendered one row per account (29 %). Fixed: each user's daily totals per
   currency are kept at refresh time (`NetWorthDay`, `balances/services/net_worth.py`), so the chart
   reads days x currencies rows; the page lists each type's 20 largest accounts and the
   connections needing attention (settings `DASHBOARD_ACCOUNTS_PER_GROUP`,
   `DASHBOARD_CONNECTIONS_SHOWN`), with paged pages for the rest, and sums totals from plain
   values instead of model instances. A first version re-summed the owner's accounts on
   every refresh under a lock on the user: the refresh profile showed 11 ms per refresh for
   the benchmark's one user with 2,000 Items, so a refresh now adds its own change to the
   day's row (one `UPDATE`). What remains of `/` at 5 accounts is mostly the chart's table
   of 90 daily values, the same for every user.
5. **Target 2: storing a refresh cost Django about eight statements.** In process (300
   Items, PostgreSQL, the emulator; `time.process_time`) a refresh cost 12.1 ms of CPU: the
   Plaid call 2.9 ms, storing the reply 7.2 ms, the call log, throttle and Item load
   1.8 ms. Storing 300 replies in one transaction changed nothing (7.2 ms each). A batched
   path (beat's fan-out queueing tasks of 50 Items whose replies were stored together, one
   statement of each kind per batch) took one worker from 0.07-0.10 of the bare rate to
   0.27-0.36 on this CPU-bound benchmark. Measured at production shape (Plaid answering in
   seconds, under its production limits) it bought nothing, and it is gone: beat queues one
   `refresh_item_balances` task per Item (finding 10). What
   stays from that work is in every single-Item store: the per-row values go in one
   `executemany` instead of `bulk_update`'s `CASE WHEN` (`bulk.update_changed`).
6. **Target 3: threads waited for the GIL.** The code from before this work (commit
   071a9ae), 600 Items at 250 ms on 8 threads, gave 1.47x here; each task took 353 ms
   around a 259 ms call. py-spy (with idle frames) put the difference in database and
   Redis round trips, each waiting for its thread to get the GIL back from a thread that
   was computing: with 8 threads each needing about 15 ms of CPU per refresh, a refresh
   waits for the others' CPU, so the overhead grows with the CPU per refresh and with the
   concurrency (the same harness: 42 ms per task at 4 threads, 96 ms at 8). Workers now
   hand the GIL over every 0.5 ms (`CELERY_WORKER_SWITCH_INTERVAL`): 1.37-1.38x; the rest
   came from less CPU and fewer round trips per refresh (findings 7 and 9): 1.18-1.23x in
   runs of this harness, and in `make bench` 1.33x before finding 9, 1.18x after.
7. **plaid-python's response models cost more CPU than the rest of a refresh.** cProfile
   (CPU clock) of 100 in-process single-Item refreshes: 30 % of the refresh was the SDK
   building its models from the reply (`validate_and_convert_types`, about 300 objects per
   reply), which our client then copied into its own dataclasses. Fixed: for the accounts
   endpoints, called on every refresh, `balances/plaid/client.py` asks the SDK for its
   HTTP response (`_preload_content=False`) and `balances/plaid/parse.py` parses the JSON
   itself, as strictly as the models did (every required key and type, known account
   types; tests in `tests/balances/plaid/test_parse.py`), with amounts read straight into
   `Decimal`. The
   SDK still builds the request, authenticates, keeps the connection pool and raises its
   errors. In process a call went from 2.0 to 0.5 ms of CPU; in a worker (CPU read from
   `/proc`) a refresh from 6.1 to 2.2 ms, as the models' garbage no longer collects under
   the GIL of 8 threads. The bare rate stays plaid-python's own loop (its models), as the
   target defines it; our client's loop is shown beside it in section 2.
8. **Two workers were slower than one** with the batched path of finding 5: in the same
   harness they ran either at about 480 Items/s or at about 200, and in the slow runs used
   twice the CPU per refresh. Cause: one call slower than 0.1 s made a batch send its
   remaining Items on as single-Item tasks, costlier than batched ones; on 2 CPUs shared by
   16 threads, PostgreSQL and the emulator, a call now and then waits that long for a CPU,
   so the machine got busier, more calls were slow and more batches broke up. A batch then
   handed off only after two slow calls in a row, and two workers ran at 464-524 Items/s
   against a bare loop of 552 calls/s (4 cycles of 2,000). The batched path and its
   hand-off are gone since (finding 5).
9. **A single-Item refresh made 14 database round trips after its call**, each one a
   wait for the GIL in a busy worker (finding 6). Cut to 10, with no change in what is
   stored: the call log is written in the store's transaction (its own commit was two
   round trips; when storing fails, the call is still logged on its own, then the
   error goes up), one query reads the Item's accounts with whether each has a snapshot
   today (an `EXISTS` subquery on the `(account, taken_at)` index) instead of two, and
   `bulk.update_changed` writes changed rows with at most one statement (an `UPDATE` that
   also sets values every row shares costs PostgreSQL nothing more: it writes a new row
   version either way). In process a single-Item store went from 5.4 to 4.1 ms of CPU.
10. **Batched against single-Item tasks, at production shape: the batch path is removed.**
   The batched path of finding 5 was measured against a Plaid answering in 1 ms. In
   production Plaid answers `/accounts/balance/get` in seconds (median about 3 s, p95 about
   11 s) and caps a client at 1,200 calls a minute. `bench/production.py`, at commit
   e901e92 (the last with the batch path), 2026-11-30 14:01 UTC on this machine: 2,000
   Items of 5 accounts refreshed once each way by ONE worker at the Procfile's settings
   (threads, concurrency 8), the emulator's realistic latency, Plaid's production limits;
   **batched**: beat's fan-out in tasks of 50; **single**: one `refresh_item_balances`
   task per Item. Worker CPU from `/proc` (the fan-out's included in batched); calls per
   minute from the call log.

   | mode | wall | ideal | wall ÷ ideal | worker CPU per refresh | calls/min (best 60 s) | latency median / p95 | tasks |
   |---|---|---|---|---|---|---|---|
   | batched | 1,011 s | 994 s | 1.02x | 16.0 ms | 119 (142) | 2.94 / 10.78 s | 40 batches, 1,920 Items handed off |
   | single | 1,032 s | 1,024 s | 1.01x | 15.1 ms | 116 (141) | 2.99 / 11.17 s | 2,000 single |

   What the batch path bought (positive: batched better): worker CPU per refresh -5.9 %,
   wall time +2.1 % (-0.9 % against each run's own ideal: the batched run drew a 3 % lower
   mean latency), calls per minute +2.1 % (best minute +0.7 %). The rule was to keep it
   only for at least 20 % on one of them; it bought none, because every batch met two slow
   calls at once and handed 48 of its 50 Items off to single-Item tasks (96 % of all
   refreshes ran as single tasks anyway). It is removed with what existed only for it: the
   task `refresh_items_balances`, the batch run and its hand-offs, the multi-Item store,
   `BALANCE_REFRESH_BATCH_SIZE` and `BALANCE_REFRESH_STORE_EVERY`. The cost is on the
   CPU-bound target 2 (Plaid in 1 ms), where batches stored 50 replies in the statements of
   one: section 2 shows today's figure. "Refresh at production shape" below is this
   harness on today's code.
"""


def record(target: int, title: str, figure: str, ok: bool) -> None:
    """Store one target's verdict for the summary (read by `write`)."""
    data: dict[str, Any] = json.loads(VERDICTS.read_text()) if VERDICTS.exists() else {}
    data[str(target)] = {"title": title, "figure": figure, "ok": ok}
    VERDICTS.parent.mkdir(parents=True, exist_ok=True)
    VERDICTS.write_text(json.dumps(data, indent=1))


def write(*, durations: dict[str, float], total: float, only: set[str], load: str) -> bool:
    """Rewrite the summary of docs/BENCHMARKS.md; return whether every target was met."""
    data: dict[str, Any] = json.loads(VERDICTS.read_text()) if VERDICTS.exists() else {}
    rows = [
        f"| {n} | {v['title']} | {v['figure']} | {common.verdict(v['ok'])} |"
        for n, v in sorted(data.items(), key=lambda kv: int(kv[0]))
    ]
    times = ", ".join(f"{name} {seconds:.0f} s" for name, seconds in durations.items())
    summary = (
        "## Summary\n\n"
        f"Last run: {common.today()}; machine: {common.machine()}.\n"
        f"`make bench` took {total:.0f} s ({times}); {load} (the machine is shared).\n\n"
        "| target | what | figure (this run) | result |\n|---|---|---|---|\n"
        + "\n".join(rows)
        + "\n"
    )
    doc = common.DOC.read_text() if common.DOC.exists() else ""
    if not doc.startswith("# Benchmarks\n\n`make bench`"):
        rest = doc.split("\n## ", 1)
        doc = INTRO + ("\n## " + rest[1] if len(rest) == 2 else "")
    doc = common.replace_section(doc, "Summary", summary)
    doc = common.replace_section(doc, "Findings and fixes", FINDINGS)
    # The summary and the findings go first, right after the introduction.
    head, _, _ = doc.partition("\n## ")
    sections = ["## " + s for s in doc.split("\n## ")[1:]]
    first = ("## Summary", "## Findings and fixes")
    ordered = [s for p in first for s in sections if s.startswith(p)] + sorted(
        (s for s in sections if not s.startswith(first)), key=_section_order
    )
    common.DOC.write_text(head.rstrip("\n") + "\n\n" + "\n".join(ordered).rstrip("\n") + "\n")
    expected = {
        "dashboard": [1],
        "refresh": [2, 3, 5],
        "history": [4],
        "emulator": [6],
        "api": [7],
    }
    wanted = {str(n) for name in only for n in expected.get(name, [])}
    return all(str(n) in data and data[str(n)]["ok"] for n in wanted)


def _section_order(section: str) -> str:
    # "## 1. Dashboard" ... "## 5. Memory", then "## Emulator throughput" (target 6).
    return section[3:] if section[3].isdigit() else "6" + section[3:]
