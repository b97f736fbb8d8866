"""Dashboard (target 1): queries and median server time for 5, 100 and 1,000 accounts.

Builds a throwaway test database (tests.settings on DATABASE_URL: `bench/run.py` points
it at PostgreSQL, production's database) with three users: 5 accounts in 1 Item, 100 in
20 and 1,000 in 200, each account with a snapshot every day for `--days` days, and a
fifth as many accounts entered by hand with a value every 30 days. Renders
`/` (90 days), `/?range=1y`, `/?range=all` and `/api/dashboard/?range=1y` through Django's
test client (warm; the median of `--repeat` requests, each read to its last byte, is the
server time; `/` streams, so its time to the first byte is measured too). Targets: the
same query count for all three users and at most 10 per request; the median time of `/`
at 1,000 accounts at most 3x the time at 5. Writes the "1. Dashboard" section of
docs/BENCHMARKS.md.

Usage: python bench/dashboard.py [--days 365] [--repeat 9] [--no-write]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import sys
import time
import tracemalloc
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ["DJANGO_SETTINGS_MODULE"] = "tests.settings"

from bench import common, report  # noqa: E402

MAX_QUERIES = 10
MAX_RATIO = 3.0
# `/` at the largest size against the login page (a page doing almost nothing), same run.
MAX_TTFB_RATIO = 3.0
LOGIN_PATH = "/accounts/login/"
SIZES = ((5, 1), (100, 20), (1000, 200))  # (accounts, Items)
PATHS = ("/", "/?range=1y", "/?range=all", "/api/dashboard/?range=1y")
TARGET_PATH = "/"


def make_user(username: str, accounts: int, items: int, days: int) -> Any:
    """Create a user with `accounts` accounts over `items` Items, a snapshot per day each."""
    from django.contrib.auth.models import User
    from django.utils import timezone

    from balances.models import Account, BalanceSnapshot, ManualAccount, ManualValue, PlaidItem
    from balances.services import net_worth

    user = User.objects.create_user(username)
    now = timezone.now()
    made = []
    for n in range(items):
        item = PlaidItem(owner=user, plaid_item_id=f"{username}-item-{n}")
        item.access_token = f"access-bench-{username}-{n}"
        item.institution_name = f"Bank {n % 40}"
        item.last_refreshed_at = now
        item.last_realtime_at = now  # fresh: opening the page queues no refresh
        item.save()
        made.append(item)
    types = ["depository", "credit", "investment", "loan", "other"]
    Account.objects.bulk_create(
        Account(
            item=made[n % items],
            plaid_account_id=f"{username}-acct-{n}",
            name=f"Account {n}",
            mask=f"{n:04d}",
            type=types[n % 5],
            subtype="checking",
            iso_currency_code="CAD" if n % 7 == 0 else "USD",
            available=Decimal(n),
            current=Decimal(n + 10),
            limit=Decimal(5000) if n % 5 == 1 else None,
            balances_updated_at=now,
        )
        for n in range(accounts)
    )
    batch: list[BalanceSnapshot] = []
    for account in Account.objects.filter(item__owner=user).only("pk", "current"):
        for d in range(days):
            batch.append(
                BalanceSnapshot(
                    account_id=account.pk,
                    taken_at=now - dt.timedelta(days=d),
                    current=(account.current or 0) + d,
                )
            )
        if len(batch) >= 20000:
            BalanceSnapshot.objects.bulk_create(batch)
            batch = []
    BalanceSnapshot.objects.bulk_create(batch)
    # A fifth as many accounts entered by hand, each with a value every 30 days.
    manual = ManualAccount.objects.bulk_create(
        ManualAccount(
            owner=user,
            name=f"By hand {n}",
            kind="liability" if n % 2 else "asset",
            category="loan" if n % 2 else "property",
            iso_currency_code="USD",
            value=Decimal(1000 + n),
            value_as_of=timezone.localdate(),
        )
        for n in range(max(1, accounts // 5))
    )
    ManualValue.objects.bulk_create(
        ManualValue(account=m, value=m.value + d, as_of=timezone.localdate() - dt.timedelta(days=d))
        for m in manual
        for d in range(0, max(days, 1), 30)
    )
    # The daily totals refreshes keep, summed once from these snapshots and values.
    net_worth.net_worth_rebuild(user_id=user.pk)
    return user


def fetch(client: Any, path: str) -> tuple[Any, float, float]:
    """GET `path` and read its whole body; return the response, the seconds to its first
    byte (to the first chunk of a streamed page: `/` sends its header before its figures)
    and to its last."""
    started = time.perf_counter()
    response = client.get(path)
    if not response.streaming:
        whole = time.perf_counter() - started
        return response, whole, whole
    chunks = iter(response.streaming_content)
    next(chunks, b"")
    first = time.perf_counter() - started
    for _chunk in chunks:
        pass
    return response, first, time.perf_counter() - started


def measure(client: Any, path: str, repeat: int) -> dict[str, float]:
    """Return queries, median and min seconds of `repeat` GETs of `path` (the whole body
    read), and peak MB."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    fetch(client, path)  # warm caches (templates, session)
    with CaptureQueriesContext(connection) as queries:
        response, _first, _last = fetch(client, path)
    if response.status_code != 200:
        raise RuntimeError(f"{path}: HTTP {response.status_code}")
    count = len(queries)
    times = []
    for _ in range(repeat):
        _response, _first, last = fetch(client, path)
        times.append(last)
    tracemalloc.start()  # a separate request: tracing slows Python down several times
    fetch(client, path)
    _current, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {
        "queries": count,
        "median": statistics.median(times),
        "min": min(times),
        "mb": peak / 1e6,
    }


def first_bytes(client: Any, path: str, signed_out: Any, repeat: int) -> tuple[float, float]:
    """Return the median seconds to the first byte of `path` (through `client`) and of the
    login page (through `signed_out`), over `repeat` requests of each taken in turns, so
    both see the machine in the same state (a ratio of two small times: each alone swung
    from one run to the next by more than the target's margin)."""
    fetch(client, path)
    fetch(signed_out, LOGIN_PATH)
    pages, logins = [], []
    for _ in range(repeat):
        pages.append(fetch(client, path)[1])
        logins.append(fetch(signed_out, LOGIN_PATH)[1])
    return statistics.median(pages), statistics.median(logins)


# Where the time of one request goes (cProfile cumulative time, share of the request).
PROFILE_FUNCS = (
    ("daily history (history.net_worth_series)", "selectors/history.py", "net_worth_series"),
    ("template rendering (django.shortcuts.render)", "shortcuts.py", "render"),
    ("rows from PostgreSQL (Django iterator)", "query.py", "_iterator"),
    ("accounts by type (accounts.group_balances)", "selectors/accounts.py", "group_balances"),
)


def profile_request(client: Any, path: str) -> tuple[float, list[tuple[str, float]]]:
    """cProfile one GET of `path`; return its seconds and the shares of PROFILE_FUNCS."""
    import cProfile
    import pstats

    profiler = cProfile.Profile()
    started = time.perf_counter()
    profiler.enable()
    fetch(client, path)
    profiler.disable()
    seconds = time.perf_counter() - started
    stats: dict[Any, Any] = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
    total = max(ct for (_cc, _nc, _tt, ct, _callers) in stats.values())
    shares = []
    for label, filename, func in PROFILE_FUNCS:
        ct = max(
            (
                v[3]
                for (f, _line, name), v in stats.items()
                if f.endswith(filename) and name == func
            ),
            default=0.0,
        )
        shares.append((label, ct / total))
    return seconds, shares


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--days", type=int, default=365)
    ap.add_argument("--repeat", type=int, default=9)
    ap.add_argument("--ttfb-repeat", type=int, default=41, help="first-byte requests of each")
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

    setup_test_environment()
    old_config = setup_databases(verbosity=0, interactive=False)
    try:
        results: dict[int, dict[str, dict[str, float]]] = {}
        for accounts, items in sizes:
            user = make_user(f"u{accounts}", accounts, items, args.days)
            client = Client()
            client.force_login(user)
            results[accounts] = {path: measure(client, path, args.repeat) for path in PATHS}
            if accounts == sizes[-1][0]:
                profiled = profile_request(client, TARGET_PATH)
                # The login page, signed out: the floor of any request of the site.
                page_first, login_first = first_bytes(
                    client, TARGET_PATH, Client(), args.ttfb_repeat
                )
        vendor = connection.vendor
    finally:
        teardown_databases(old_config, verbosity=0)

    small, large = sizes[0][0], sizes[-1][0]
    rows = []
    same = True
    for path in PATHS:
        counts = [results[a][path]["queries"] for a, _ in sizes]
        same = same and len(set(counts)) == 1 and max(counts) <= MAX_QUERIES
        times = " / ".join(f"{results[a][path]['median'] * 1000:.0f}" for a, _ in sizes)
        rows.append(
            f"| `{path}` | {' / '.join(str(int(c)) for c in counts)} | {times} ms | "
            f"{common.ratio(results[large][path]['median'], results[small][path]['median']):.1f}x"
            f" | {results[large][path]['mb']:.1f} MB |"
        )
        print(f"{path}: queries {counts}, median ms {times}", flush=True)
    time_ratio = common.ratio(
        results[large][TARGET_PATH]["median"], results[small][TARGET_PATH]["median"]
    )
    fast = time_ratio <= MAX_RATIO
    ttfb_ratio = common.ratio(page_first, login_first)
    ttfb_ok = ttfb_ratio <= MAX_TTFB_RATIO
    sizes_text = ", ".join(f"{a:,} accounts in {i} Item{'s' if i > 1 else ''}" for a, i in sizes)
    profile_rows = "\n".join(f"| {label} | {share * 100:.0f} % |" for label, share in profiled[1])
    section = f"""## 1. Dashboard

`bench/dashboard.py` ({common.today()}, {vendor}): three users ({sizes_text}), each
account with a snapshot every day for {args.days} days; Django's test client (the whole
request: middleware, session, queries, template), warm; the median of {args.repeat}
requests.

| request | queries ({" / ".join(str(a) for a, _ in sizes)} accounts) | median time | time ratio {large} / {small} | peak Python memory ({large}) |
|---|---|---|---|---|
{chr(10).join(rows)}

Targets: the same query count for all three users and at most {MAX_QUERIES} for every
request: {common.verdict(same)}; the median time of `{TARGET_PATH}` at {large:,} accounts at
most {MAX_RATIO:.0f}x the time at {small}: {time_ratio:.1f}x, {common.verdict(fast)}. The
query count is also a regular test (`tests/balances/selectors/test_dashboard.py`,
`django_assert_max_num_queries`).

Time to first byte of `{TARGET_PATH}` at {large:,} accounts over the login page's
(`{LOGIN_PATH}`, signed out: a page doing almost nothing), the same run, the median of
{args.ttfb_repeat} requests of each taken in turns: the time until the first chunk of the
body exists (`/` streams its header and navigation before its figures,
`balances/web/streaming.py`; the login page is whole at once): {page_first * 1000:.1f} ms / {login_first * 1000:.1f} ms
= {ttfb_ratio:.1f}x, target at most {MAX_TTFB_RATIO:.0f}x: {common.verdict(ttfb_ok)}.

Profile of `{TARGET_PATH}` at {large:,} accounts (cProfile, one request, {profiled[0] * 1000:.0f} ms
under the profiler; share of the request's cumulative time, nested rows overlap):

| part | share |
|---|---|
{profile_rows}
"""
    if not args.no_write:
        common.write_section("1. Dashboard", section)
        report.record(
            1,
            "dashboard: same queries for 5/100/1,000 accounts (≤ 10); time ratio ≤ 3x; "
            "`/` at 1,000 accounts ≤ 3x the login page's TTFB",
            f"queries {'same' if same else 'differ'}; `/` {time_ratio:.1f}x "
            f"({results[small][TARGET_PATH]['median'] * 1000:.0f} ms → "
            f"{results[large][TARGET_PATH]['median'] * 1000:.0f} ms); "
            f"first byte {ttfb_ratio:.1f}x the login page's "
            f"({page_first * 1000:.1f} ms / {login_first * 1000:.1f} ms)",
            same and fast and ttfb_ok,
        )
    print(f"TTFB / at {large} accounts over {LOGIN_PATH}: {ttfb_ratio:.1f}x", flush=True)
    return 0 if same and fast and ttfb_ok else 1


if __name__ == "__main__":
    sys.exit(main())
