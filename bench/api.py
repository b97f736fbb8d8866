"""The read API (issue 18): queries and median server time of `GET /api/v1/accounts/` and
`GET /api/v1/net-worth/` for 5, 100 and 1,000 accounts.

Builds a throwaway test database (tests.settings on DATABASE_URL: `bench/run.py` points it
at PostgreSQL) with the dashboard benchmark's three users (5 accounts in 1 Item, 100 in 20,
1,000 in 200; `bench/dashboard.py`'s `make_user`, a snapshot per account per day for
`--days` days), a personal access token each, and sends each request with
`Authorization: Bearer` through Django's test client (the whole request: middleware,
token lookup, throttle, queries, JSON), warm; the median of `--repeat` requests is the
server time. Targets: the same query count for all three users; the median time at 1,000
accounts at most 3x the time at 5, for both endpoints. Writes the "7. API" section of
docs/BENCHMARKS.md.

Usage: python bench/api.py [--days 30] [--repeat 15] [--accounts-list 5,100,1000] [--no-write]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ["DJANGO_SETTINGS_MODULE"] = "tests.settings"
# The benchmark's own requests must never meet the API's rate limit.
os.environ["API_THROTTLE_RATE"] = "1000000/min"

from bench import common, report  # noqa: E402
from bench.dashboard import SIZES, make_user  # noqa: E402

MAX_RATIO = 3.0
PATHS = ("/api/v1/accounts/", "/api/v1/net-worth/")


def measure(client: Any, path: str, headers: dict[str, str], repeat: int) -> dict[str, float]:
    """Return the queries and the median and min seconds of `repeat` GETs of `path`."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client.get(path, **headers)  # warm (and the token's last_used_at written)
    with CaptureQueriesContext(connection) as queries:
        response = client.get(path, **headers)
    if response.status_code != 200:
        raise RuntimeError(f"{path}: HTTP {response.status_code}")
    count = len(queries)  # now: the next request's end clears the query log
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        client.get(path, **headers)
        times.append(time.perf_counter() - started)
    return {"queries": count, "median": statistics.median(times), "min": min(times)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--days", type=int, default=30)
    ap.add_argument("--repeat", type=int, default=15)
    ap.add_argument("--accounts-list", default="5,100,1000")
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()
    sizes = [
        (int(a), items)
        for a, (_default, items) in zip(args.accounts_list.split(","), SIZES, strict=True)
    ]

    import django

    django.setup()
    from django.db import connection
    from django.test import Client
    from django.test.utils import setup_databases, setup_test_environment, teardown_databases

    from balances.services import api_tokens

    setup_test_environment()
    old_config = setup_databases(verbosity=0, interactive=False)
    try:
        results: dict[int, dict[str, dict[str, float]]] = {}
        for accounts, items in sizes:
            user = make_user(f"api{accounts}", accounts, items, args.days)
            _token, text = api_tokens.api_token_create(user=user, name="bench")
            headers = {"HTTP_AUTHORIZATION": f"Bearer {text}"}
            client = Client()
            results[accounts] = {p: measure(client, p, headers, args.repeat) for p in PATHS}
        vendor = connection.vendor
    finally:
        teardown_databases(old_config, verbosity=0)

    small, large = sizes[0][0], sizes[-1][0]
    rows = []
    same = fast = True
    ratios = {}
    for path in PATHS:
        counts = [results[a][path]["queries"] for a, _ in sizes]
        same = same and len(set(counts)) == 1
        ratios[path] = common.ratio(results[large][path]["median"], results[small][path]["median"])
        fast = fast and ratios[path] <= MAX_RATIO
        times = " / ".join(f"{results[a][path]['median'] * 1000:.1f}" for a, _ in sizes)
        rows.append(
            f"| `{path}` | {' / '.join(str(int(c)) for c in counts)} | {times} ms | "
            f"{ratios[path]:.1f}x |"
        )
        print(f"{path}: queries {counts}, median ms {times}, ratio {ratios[path]:.2f}", flush=True)
    sizes_text = ", ".join(f"{a:,} accounts in {i} Item{'s' if i > 1 else ''}" for a, i in sizes)
    section = f"""## 7. API

`bench/api.py` ({common.today()}, {vendor}): three users ({sizes_text}), each with a
personal access token sent as `Authorization: Bearer`; Django's test client (the whole
request: middleware, token lookup, throttle, queries, JSON), warm; the median of
{args.repeat} requests. `/api/v1/accounts/` returns its first page (100 accounts; the count
covers them all); `/api/v1/net-worth/` sums every open account.

| request | queries ({" / ".join(str(a) for a, _ in sizes)} accounts) | median time | time ratio {large} / {small} |
|---|---|---|---|
{chr(10).join(rows)}

Targets: the same query count for all three users: {common.verdict(same)}; the median time
at {large:,} accounts at most {MAX_RATIO:.0f}x the time at {small}, for each request:
{common.verdict(fast)}. The query count is also a regular test
(`tests/balances/api/test_queries.py`).
"""
    if not args.no_write:
        common.write_section("7. API", section)
        report.record(
            7,
            "API: same queries for 5/100/1,000 accounts; time ratio ≤ 3x",
            f"queries {'same' if same else 'differ'}; "
            + ", ".join(f"`{p}` {r:.1f}x" for p, r in ratios.items()),
            same and fast,
        )
    return 0 if same and fast else 1


if __name__ == "__main__":
    sys.exit(main())
