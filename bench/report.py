"""The summary at the top of docs/BENCHMARKS.md, from the verdicts each target left.

Each benchmark writes its own section and `var/bench-verdicts.json` entries
(`record`): target number, title, the figure, met or not.
"""

from __future__ import annotations

import json
from typing import Any

from bench import common

VERDICTS = common.ROOT / "var" / "bench-verdicts.json"
INTRO = """# Benchmarks

`make bench` (`python bench/run.py`) measures the six targets of issue 8 on this machine
and rewrites this file. Every target is a ratio or a count taken within one run, so it
holds on a noisy machine; absolute times are beside it. How each is measured: the section
of each target below, and `bench/README.md`.
"""


FINDINGS = """## Findings and fixes

Profiles taken while building these benchmarks (2026-11-24, this machine), and what was
changed in the app because of them:

1. **Storing a refresh cost more than the Plaid call.** cProfile of 100 in-process
   refreshes: Django's `bulk_update` of 13 fields on 5 accounts (a `CASE WHEN` per row and
   field) took 1.7 s of 2.7 s. Fixed: `balances/bulk.py` (`update_changed`, used by
   `services.item_store_balances`) writes only the fields that changed, with one plain
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
4. **Target 2 stays missed.** The bare loop spends about 1.3 ms of CPU per call (the
   emulator answers in a fraction of that); a refresh needs the same call plus about 8 SQL
   statements, 5 Redis round trips and Celery's message handling: about 10 ms of worker
   CPU (its py-spy profile, with `--gil`, is in section 2). A second worker process does
   not help on 2 CPUs shared with PostgreSQL, Redis, the emulator and the process queueing
   the refreshes. Next steps, not done: the call log row inside the store's transaction
   (one commit per refresh instead of two), fewer statements in the store, and skipping
   plaid-python's return-type checks (its model validation is most of the SDK's share).
5. **Target 1's time ratio stays missed.** Query counts are flat, but the work is not:
   the page renders one row per account, and the daily net-worth history reads every
   account's snapshots of the range (accounts x days rows) and sums them in Python
   (section 1 has the profile). A ratio of 3x at 1,000 accounts needs the daily series
   kept aggregated at refresh time (read cost in days, not accounts x days) and the
   account list rendered per group on demand: a design change for the dashboard, proposed
   to its owner, not made here.
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
    expected = {"dashboard": [1], "refresh": [2, 3, 5], "history": [4], "emulator": [6]}
    wanted = {str(n) for name in only for n in expected.get(name, [])}
    return all(str(n) in data and data[str(n)]["ok"] for n in wanted)


def _section_order(section: str) -> str:
    # "## 1. Dashboard" ... "## 5. Memory", then "## Emulator throughput" (target 6).
    return section[3:] if section[3].isdigit() else "6" + section[3:]
