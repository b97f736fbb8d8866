"""Measure the dashboard: queries, render time and memory for 5 and 1,000 accounts.

Builds a throwaway test database (tests.settings: SQLite under var/, or DATABASE_URL;
run it on PostgreSQL, production's database), gives one user 5 accounts and another
1,000, each account with a snapshot every day for a year, then renders `/` (90 days),
`/?range=1y`, `/?range=all` and `/api/dashboard/` through Django's test client. Checks
that the query count is the same for both users and at most 10, and writes the
"## Dashboard" section of docs/BENCHMARKS.md.

Usage: python bench/dashboard.py [--accounts 1000] [--days 365] [--no-write]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import re
import sys
import time
import tracemalloc
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
DOC = ROOT / "docs" / "BENCHMARKS.md"
MAX_QUERIES = 10
# The 1,000-account dashboard with a year of daily history, on PostgreSQL (production's
# database). SQLite computes each snapshot's local date in Python: reported, no target.
TARGET_SECONDS = 3.0
TARGET_MB = 64.0


def write_section(text: str) -> None:
    DOC.parent.mkdir(parents=True, exist_ok=True)
    doc = DOC.read_text() if DOC.exists() else "# Benchmarks\n"
    pattern = re.compile(r"## Dashboard\n.*?(?=\n## |\Z)", re.S)
    if pattern.search(doc):
        doc = pattern.sub(lambda _m: text.rstrip("\n") + "\n", doc)
    else:
        doc = doc.rstrip("\n") + "\n\n" + text
    DOC.write_text(doc.rstrip("\n") + "\n")


def make_user(username: str, accounts: int, days: int) -> Any:
    """Create a user with `accounts` accounts over 3 Items, a snapshot per account per day."""
    from django.contrib.auth.models import User
    from django.utils import timezone

    from balances.models import Account, BalanceSnapshot, PlaidItem

    user = User.objects.create_user(username)
    items = []
    for n in range(3):
        item = PlaidItem(owner=user, plaid_item_id=f"{username}-item-{n}")
        item.access_token = f"access-bench-{username}-{n}"
        item.institution_name = f"Bank {n}"
        item.last_refreshed_at = timezone.now()
        item.save()
        items.append(item)
    types = ["depository", "credit", "investment", "loan", "other"]
    Account.objects.bulk_create(
        Account(
            item=items[n % 3],
            plaid_account_id=f"{username}-acct-{n}",
            name=f"Account {n}",
            mask=f"{n:04d}",
            type=types[n % 5],
            subtype="checking",
            iso_currency_code="CAD" if n % 7 == 0 else "USD",
            available=Decimal(n),
            current=Decimal(n + 10),
            limit=Decimal(5000) if n % 5 == 1 else None,
        )
        for n in range(accounts)
    )
    now = timezone.now()
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
    return user


def measure(client: Any, path: str) -> tuple[int, float, float]:
    """Return (queries, seconds, peak MB) of one GET of `path`."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client.get(path)  # warm caches (templates, session)
    with CaptureQueriesContext(connection) as queries:
        started = time.perf_counter()
        response = client.get(path)
        seconds = time.perf_counter() - started
    count = len(queries)  # now: the next request clears the connection's query log
    if response.status_code != 200:
        raise RuntimeError(f"{path}: HTTP {response.status_code}")
    tracemalloc.start()  # a separate request: tracing slows Python down several times
    client.get(path)
    _current, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return count, seconds, peak / 1e6


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--accounts", type=int, default=1000)
    ap.add_argument("--days", type=int, default=365)
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()

    import django

    django.setup()
    from django.db import connection
    from django.test import Client
    from django.test.utils import setup_databases, setup_test_environment, teardown_databases

    setup_test_environment()
    old_config = setup_databases(verbosity=0, interactive=False)
    try:
        small = make_user("small", 5, args.days)
        large = make_user("large", args.accounts, args.days)
        client = Client()
        results: dict[str, dict[str, tuple[int, float, float]]] = {}
        for user in (small, large):
            client.force_login(user)
            results[user.username] = {
                path: measure(client, path)
                for path in ("/", "/?range=1y", "/?range=all", "/api/dashboard/?range=1y")
            }
        vendor = connection.vendor
    finally:
        teardown_databases(old_config, verbosity=0)

    rows = []
    ok = True
    for path in results["small"]:
        q_small = results["small"][path][0]
        q_large, seconds, mb = results["large"][path]
        same = q_small == q_large <= MAX_QUERIES
        fast = vendor != "postgresql" or seconds <= TARGET_SECONDS
        ok = ok and same and fast and mb <= TARGET_MB
        rows.append(
            f"| `{path}` | {q_small} / {q_large} | {results['small'][path][1] * 1000:.0f} ms"
            f" / {seconds * 1000:.0f} ms | {mb:.1f} MB |"
        )
        print(f"{path}: queries {q_small}/{q_large}, {seconds:.3f} s, peak {mb:.1f} MB")
    met = "met" if ok else "missed"
    section = (
        "## Dashboard\n\n"
        f"`python bench/dashboard.py` ({dt.date.today().isoformat()}, {vendor}): one user with "
        f"5 accounts and one with {args.accounts}, each account with a snapshot every day "
        f"for {args.days} days; Django's test client, warm.\n\n"
        "| request | queries (5 / "
        f"{args.accounts} accounts) | time (5 / {args.accounts}) | peak Python memory "
        f"({args.accounts}) |\n|---|---|---|---|\n" + "\n".join(rows) + "\n\n"
        f"machine: {os.cpu_count()} CPUs, {platform.machine()} {platform.system()}, "
        f"python {platform.python_version()}.\n\n"
        f"Targets: the same query count for both users and at most {MAX_QUERIES}; at most "
        f"{TARGET_SECONDS:.0f} s (on PostgreSQL) and {TARGET_MB:.0f} MB for {args.accounts} "
        "accounts: "
        f"**{met}**.\n"
    )
    if not args.no_write:
        write_section(section)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
