"""The summary at the top of docs/BENCHMARKS.md, from the verdicts each target left.

Each benchmark writes its own section and `var/bench-verdicts.json` entries
(`record`): target number, title, the figure, met or not.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bench import common

VERDICTS = common.ROOT / "var" / "bench-verdicts.json"
INTRO = """# Benchmarks

`make bench` (`python bench/run.py`) measures the six targets of issue 8 on this machine
and rewrites this file. Every target is a ratio or a count taken within one run, so it
holds on a noisy machine; absolute times are beside it. How each is measured: the section
of each target below, and `bench/README.md`.
"""


def record(target: int, title: str, figure: str, ok: bool) -> None:
    """Store one target's verdict for the summary (read by `write`)."""
    data: dict[str, Any] = json.loads(VERDICTS.read_text()) if VERDICTS.exists() else {}
    data[str(target)] = {"title": title, "figure": figure, "ok": ok}
    VERDICTS.parent.mkdir(parents=True, exist_ok=True)
    VERDICTS.write_text(json.dumps(data, indent=1))


def write(*, durations: dict[str, float], total: float, only: set[str]) -> bool:
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
        f"`make bench` took {total:.0f} s ({times}).\n\n"
        "| target | what | figure (this run) | result |\n|---|---|---|---|\n"
        + "\n".join(rows)
        + "\n"
    )
    doc = common.DOC.read_text() if common.DOC.exists() else ""
    if not doc.startswith("# Benchmarks\n\n`make bench`"):
        rest = doc.split("\n## ", 1)
        doc = INTRO + ("\n## " + rest[1] if len(rest) == 2 else "")
    doc = common.replace_section(doc, "Summary", summary)
    # The summary goes first, right after the introduction.
    head, _, _ = doc.partition("\n## ")
    sections = ["## " + s for s in doc.split("\n## ")[1:]]
    ordered = [s for s in sections if s.startswith("## Summary")] + [
        s for s in sections if not s.startswith("## Summary")
    ]
    common.DOC.write_text(head.rstrip("\n") + "\n\n" + "\n".join(ordered).rstrip("\n") + "\n")
    expected = {"dashboard": [1], "refresh": [2, 3, 5], "history": [4], "emulator": [6]}
    wanted = {str(n) for name in only for n in expected.get(name, [])}
    return all(str(n) in data and data[str(n)]["ok"] for n in wanted)


def load(path: Path) -> Any:
    return json.loads(path.read_text())
