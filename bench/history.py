"""History growth (target 4): 30 simulated days of refreshes every 15 minutes.

Drives `store.item_store_balances` (what every refresh ends in) directly with a
simulated clock (its `now=`) for `--accounts` accounts in Items of `--per-item` accounts,
on the run's PostgreSQL database. Each account's balance
changes at random, `--changes-per-day` times a day on average (seeded); Plaid's
`last_updated_datetime` is the refresh time, as `/accounts/balance/get` reports it.
Counts snapshot rows per account against one per day plus one per actual change, and
reports the table's and the database's size. Items are split over `--procs` processes.

Usage (from bench/run.py): python bench/history.py [--accounts 1000] [--days 30]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import multiprocessing as mp
import random
import sys
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import common, report  # noqa: E402

INTERVAL = dt.timedelta(minutes=15)
START = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def expected_max_rows(days_refreshed: int, changes: int) -> int:
    """Return the most snapshot rows target 4 allows for one account."""
    return days_refreshed + changes


def simulate(item_ids: list[int], days: int, changes_per_day: float, seed: int) -> dict[str, int]:
    """Refresh `item_ids` every 15 minutes for `days` simulated days; return change counts."""
    import django

    django.setup()
    from django.db import connection

    from balances.models import Account, PlaidItem
    from balances.plaid.types import Account as RemoteAccount
    from balances.plaid.types import AccountsResult, Balances
    from balances.services import store

    rng = random.Random(seed)  # a seeded simulation
    items = list(PlaidItem.objects.filter(pk__in=item_ids).order_by("pk"))
    remote: dict[int, list[list[Any]]] = {}
    for item in items:
        remote[item.pk] = [
            [f"{item.plaid_item_id}-acct-{n}", Decimal(rng.randrange(100, 100000)) / 100]
            for n in range(int(Account.objects.filter(item=item).count()) or 0)
        ]
    changes: dict[str, int] = {}
    steps = int(dt.timedelta(days=days) / INTERVAL)
    p_change = changes_per_day / (dt.timedelta(days=1) / INTERVAL)
    for step in range(steps):
        clock = START + step * INTERVAL
        for item in items:
            accounts = []
            for row in remote[item.pk]:
                if step and rng.random() < p_change:
                    row[1] += Decimal(rng.randrange(-5000, 5000)) / 100 or Decimal("0.01")
                    changes[row[0]] = changes.get(row[0], 0) + 1
                accounts.append(
                    RemoteAccount(
                        account_id=row[0],
                        name="Checking",
                        official_name=None,
                        mask=row[0][-4:],
                        type="depository",
                        subtype="checking",
                        balances=Balances(
                            available=row[1],
                            current=row[1],
                            limit=None,
                            iso_currency_code="USD",
                            unofficial_currency_code=None,
                            last_updated_at=clock,
                        ),
                    )
                )
            store.item_store_balances(
                item=item,
                result=AccountsResult(
                    item_id=item.plaid_item_id,
                    institution_id="ins_3",
                    accounts=tuple(accounts),
                    request_id="bench",
                ),
                now=clock,
            )
    connection.close()
    return changes


def _simulate_proc(args: tuple[list[int], int, float, int], out: Any) -> None:
    out.put(simulate(*args))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--accounts", type=int, default=1000)
    ap.add_argument("--per-item", type=int, default=100)
    ap.add_argument("--days", type=int, default=30)
    ap.add_argument("--changes-per-day", type=float, default=3.0)
    ap.add_argument("--procs", type=int, default=2)
    ap.add_argument("--seed", type=int, default=8)
    args = ap.parse_args()

    import django

    django.setup()
    from django.contrib.auth.models import User
    from django.db import connection
    from django.db.models import Count

    from balances.models import Account, BalanceSnapshot, PlaidItem

    user = User.objects.create_user("history")
    n_items = -(-args.accounts // args.per_item)
    item_ids: list[int] = []
    for i in range(n_items):
        item = PlaidItem(owner=user, plaid_item_id=f"hist-{i}", institution_name=f"Bank {i}")
        item.access_token = f"access-sandbox-hist-{i}"
        item.save()
        item_ids.append(item.pk)
        count = min(args.per_item, args.accounts - i * args.per_item)
        # The accounts exist before the first refresh (linking stored them), so every
        # snapshot below is the refresh's own.
        Account.objects.bulk_create(
            Account(
                item=item,
                plaid_account_id=f"hist-{i}-acct-{n}",
                name="Checking",
                type="depository",
                subtype="checking",
                iso_currency_code="USD",
            )
            for n in range(count)
        )
    connection.close()

    started = time.perf_counter()
    chunks = [item_ids[k :: args.procs] for k in range(args.procs)]
    ctx = mp.get_context("fork")
    out: Any = ctx.Queue()
    procs = [
        ctx.Process(
            target=_simulate_proc,
            args=((chunk, args.days, args.changes_per_day, args.seed + k), out),
        )
        for k, chunk in enumerate(chunks)
        if chunk
    ]
    for p in procs:
        p.start()
    changes: dict[str, int] = {}
    for _ in procs:
        changes.update(out.get())
    for p in procs:
        p.join()
        if p.exitcode:
            raise RuntimeError(f"simulation process failed ({p.exitcode})")
    seconds = time.perf_counter() - started

    rows = dict(
        BalanceSnapshot.objects.filter(account__item__owner=user)
        .values_list("account__plaid_account_id")
        .annotate(n=Count("pk"))
        .values_list("account__plaid_account_id", "n")
    )
    accounts = list(
        Account.objects.filter(item__owner=user).values_list("plaid_account_id", flat=True)
    )
    days_refreshed = args.days
    over = [
        a for a in accounts if rows.get(a, 0) > expected_max_rows(days_refreshed, changes.get(a, 0))
    ]
    total_rows = sum(rows.values())
    total_changes = sum(changes.get(a, 0) for a in accounts)
    refreshes = args.days * int(dt.timedelta(days=1) / INTERVAL)
    with connection.cursor() as cur:
        cur.execute(
            "SELECT pg_total_relation_size('balances_balancesnapshot'),"
            " pg_total_relation_size('balances_account'), pg_database_size(current_database())"
        )
        snap_bytes, account_bytes, db_bytes = cur.fetchone()
    result = {
        "accounts": len(accounts),
        "items": n_items,
        "days": args.days,
        "refreshes_per_account": refreshes,
        "store_calls": refreshes * n_items,
        "seconds": seconds,
        "rows": total_rows,
        "changes": total_changes,
        "allowed": days_refreshed * len(accounts) + total_changes,
        "max_rows_account": max(rows.values()) if rows else 0,
        "accounts_over": len(over),
        "snapshot_bytes": snap_bytes,
        "account_bytes": account_bytes,
        "db_bytes": db_bytes,
    }
    (ROOT / "var").mkdir(exist_ok=True)
    (ROOT / "var" / "bench-history.json").write_text(json.dumps(result, indent=1))
    ok = not over and len(accounts) == args.accounts
    mib = 1024 * 1024
    common.write_section(
        "4. History growth",
        f"""## 4. History growth

`bench/history.py` ({common.today()}): {len(accounts):,} accounts in {n_items} Items of
{args.per_item}, refreshed every 15 minutes for {args.days} simulated days
({refreshes:,} refreshes per account, {result["store_calls"]:,} calls of
`store.item_store_balances` with `now=` set to the simulated clock, in {len(procs)}
processes), PostgreSQL. Each account's balance changes at random, {args.changes_per_day:g} times a day on average (seeded); `last_updated_datetime` is the
refresh's time, as `/accounts/balance/get` reports it.

| | |
|---|---|
| snapshot rows | {total_rows:,} ({total_rows / max(1, len(accounts)):.1f} per account, at most {result["max_rows_account"]} for one account) |
| balance changes (actual) | {total_changes:,} ({total_changes / max(1, len(accounts)):.1f} per account) |
| allowed: 1 per account per day + 1 per change | {result["allowed"]:,} |
| accounts above their allowance | {len(over)} |
| without the rule (a row per refresh) | {refreshes * len(accounts):,} |
| `balances_balancesnapshot` (pg_total_relation_size, with indexes) | {snap_bytes / mib:.1f} MiB ({snap_bytes / max(1, total_rows):.0f} bytes per row) |
| `balances_account` | {account_bytes / mib:.2f} MiB |
| whole database (pg_database_size) | {db_bytes / mib:.1f} MiB |
| simulation time | {seconds:.0f} s ({result["store_calls"] / seconds:.0f} stores/s) |

Target: every account at most one row per day plus one per actual change:
{common.verdict(ok)}.
""",
    )
    report.record(
        4,
        "history: snapshot rows per account ≤ days + changes",
        f"{total_rows:,} rows ≤ {result['allowed']:,} allowed; {len(over)} accounts over; "
        f"snapshots {snap_bytes / mib:.1f} MiB",
        ok,
    )
    print(
        f"history: {total_rows} rows, allowed {result['allowed']}, over {len(over)}, "
        f"{seconds:.0f} s",
        flush=True,
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
