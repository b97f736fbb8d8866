"""Plaid cost over a simulated month: billed calls per Item per day, and how old the balances
were each time the user looked.

`python bench/cost_month.py [--days 30] [--write-doc]` (`--quick`: 3 days). A household of
four Items (four banks, linked through the app's own linking service with a webhook URL)
lives one month on a compressed clock, in this process, against the Plaid emulator over
HTTP, with the app's default policy (settings as shipped: BALANCE_SCHEDULED_SOURCE cached,
BALANCE_REFRESH_INTERVAL 1 h, BALANCE_REFRESH_ON_OPEN_AFTER 4 h):

- the clock is the emulator's (`POST /emulator/clock`), moved in 15-minute steps; Django's
  `timezone.now` (every clock of the app: the call log, the pending marks, beat's claim,
  the budget's month) reads the same time;
- Plaid's transaction updates as the emulator fires them (`/emulator/transaction-updates`:
  1-4 a day per Item at seeded times, each refreshing Plaid's cache and sending
  TRANSACTIONS / DEFAULT_UPDATE, signed), delivered over HTTP to a receiver in this process
  that hands them to `webhooks.webhook_receive` (signature, key fetch, apply, refresh);
- beat's fan-out every hour (`refresh_all_items`);
- the user opens the dashboard (`GET /` through Django's test client) at 08:30 and 20:45.

Tasks run eagerly (Celery's `task_always_eager`: a queued refresh runs at once, in the
thread that queued it); shared state is the file store (no Redis). Each look happens hours
after the previous one, so "Refresh now"'s interval (wall-clock seconds in the shared state)
is reset before it, as that much time would have.

Measured from the call log (`PlaidCall`): billed calls (successful `/accounts/balance/get`)
per Item per day. At each look, per Item: how old the balances the page shows are, i.e.
the time since the bank's balances they reflect were true: a real-time refresh's time, or
for Plaid's cached balances the time Plaid's cache was last refreshed before the fetch
(the emulator's rule: the latest of the day's start, its last transaction update and the
Item's last real-time call); before the look's own refresh, and after it (the page
updates itself when it lands: that is what the user reads). Its own PostgreSQL database
`finance_bench_cost` (dropped at the end); no Redis.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import common  # noqa: E402

DB_NAME = "finance_bench_cost"
TITLE = "Plaid cost over a simulated month"
RESULTS = ROOT / "var" / "bench-cost-month.json"
INSTITUTIONS = ("ins_3", "ins_109508", "ins_109511", "ins_109512")
LOOKS = ((8, 30), (20, 45))  # (hour, minute): between beat's hourly fan-outs
STEP = 900  # seconds of the simulated clock per step
HOUR = 3600
DAY = 86400
GOAL_CALLS_PER_ITEM_DAY = 4.0


class Receiver:
    """Plaid's webhooks, received over HTTP and applied by the app's service, one at a time."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.count = 0
        self.results: list[str] = []
        self.cond = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                from django.db import close_old_connections

                from balances.services import webhooks

                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                close_old_connections()
                result = webhooks.webhook_receive(
                    body=body, header=self.headers.get("Plaid-Verification")
                )
                self.send_response(200)
                self.end_headers()
                with receiver.cond:
                    receiver.count += 1
                    receiver.results.append(result.detail)
                    receiver.cond.notify_all()

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = HTTPServer(("127.0.0.1", self.port), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def wait_for(self, n: int, timeout: float = 30.0) -> None:
        with self.cond:
            if not self.cond.wait_for(lambda: self.count >= n, timeout):
                raise RuntimeError(f"only {self.count} of {n} webhooks arrived")

    def stop(self) -> None:
        self.httpd.shutdown()


def data_as_of(
    item: Any, fetch_endpoint: str, fetched_at: float, updates: list[float], created: float
) -> float:
    """When the bank's balances shown for `item` were true (epoch seconds)."""
    if fetch_endpoint == "/accounts/balance/get":
        return fetched_at
    realtime = item.last_realtime_at.timestamp() if item.last_realtime_at else 0.0
    last_update = max((t for t in updates if t <= fetched_at), default=0.0)
    return max(created, realtime, last_update, fetched_at - fetched_at % DAY)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--days", type=int, default=30)
    ap.add_argument("--quick", action="store_true", help="3 days, to try the harness")
    ap.add_argument("--write-doc", action="store_true", help="also update docs/BENCHMARKS.md")
    args = ap.parse_args()
    days = 3 if args.quick else args.days

    database_url = common.database_create(DB_NAME)
    emu = common.Emulator()
    data_dir = tempfile.mkdtemp(prefix="bench-cost-")
    receiver_port = common.free_port()
    env = common.bench_env(
        database_url=database_url,
        emulator_url=emu.url,
        CELERY_BROKER_URL="memory://",
        THROTTLE_REDIS_URL="",
        DATA_DIR=data_dir,
        ALLOWED_HOSTS="testserver,localhost",
        # Static files as they are (no collectstatic manifest in a bench run).
        DEBUG="true",
        PLAID_WEBHOOK_URL=f"http://127.0.0.1:{receiver_port}/plaid/webhook/",
        # Wall-clock windows: the simulated month passes in minutes, so the per-minute
        # limits would bind on the wall clock only. Plaid's per-Item limit (5 a minute) is
        # never near in simulated time (a few calls a day).
        PLAID_BALANCE_GET_PER_ITEM_PER_MINUTE="100000",
        PLAID_BALANCE_GET_PER_CLIENT_PER_MINUTE="100000",
        PLAID_ACCOUNTS_GET_PER_ITEM_PER_MINUTE="100000",
        PLAID_ACCOUNTS_GET_PER_CLIENT_PER_MINUTE="100000",
        PLAID_WEBHOOK_KEY_FETCHES_PER_MINUTE="100000",
        LOG_LEVEL="WARNING",
    )
    for key in (
        "BALANCE_SCHEDULED_SOURCE",
        "BALANCE_REFRESH_INTERVAL",
        "BALANCE_REFRESH_ON_OPEN_AFTER",
        "PLAID_BALANCE_MONTHLY_BUDGET",
    ):
        env.pop(key, None)  # the shipped defaults
    os.environ.update(env)
    out: dict[str, Any] = {
        "date": common.today(),
        "machine": common.machine(),
        "days": days,
        "items": len(INSTITUTIONS),
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
    }
    try:
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
            cwd=ROOT,
            env=env,
            check=True,
        )
        out.update(run(emu, receiver_port, days))
    finally:
        emu.stop()
        from django.db import connections

        connections.close_all()
        common.database_drop(DB_NAME)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(out, indent=1, default=str))
    text = markdown(out)
    print(text, flush=True)
    if args.write_doc:
        from bench import report

        common.write_section(TITLE, text)
        report.record(
            10,
            f"Plaid cost, simulated month, 4 Items: ≤ {GOAL_CALLS_PER_ITEM_DAY:.0f} billed "
            "calls per Item per day; each look's balances fresh (≤ the on-open age, fetched "
            "within an interval, never older than Plaid's cache)",
            f"{out['billed_per_item_per_day']:.2f} calls per Item per day; age after a look "
            f"max {out['age_after_max_h']:.1f} h; fetched within {out['fetch_age_max_min']:.0f} "
            f"min; fresher than the cache: {'yes' if out['fresher_than_cache'] else 'no'}",
            out["ok"],
        )
    return 0 if out["ok"] else 1


def run(emu: common.Emulator, receiver_port: int, days: int) -> dict[str, Any]:
    import django

    django.setup()
    from django.utils import timezone

    offset = {"seconds": 0.0}

    def sim_now() -> dt.datetime:
        return dt.datetime.fromtimestamp(time.time() + offset["seconds"], tz=dt.UTC)

    # The app's clock is the emulator's: the same wall clock plus the same offset.
    timezone.now = sim_now  # type: ignore[assignment]

    from django.conf import settings
    from django.contrib.auth.models import User
    from django.test import Client

    from balances import tasks
    from balances.models import PlaidCall
    from balances.services import linking
    from balances.shared_state import api as shared_state
    from finance.celery import app
    from plaid_emulator.core import transaction_update_times

    app.conf.task_always_eager = True
    policy = {
        "BALANCE_SCHEDULED_SOURCE": settings.BALANCE_SCHEDULED_SOURCE,
        "BALANCE_REFRESH_INTERVAL": settings.BALANCE_REFRESH_INTERVAL,
        "BALANCE_REFRESH_ON_OPEN_AFTER": settings.BALANCE_REFRESH_ON_OPEN_AFTER,
    }
    rcv = Receiver(receiver_port)  # the port PLAID_WEBHOOK_URL names

    # Start the month at a midnight (UTC) of the emulator clock, 00:05.
    now = emu.call("POST", "/emulator/clock", {"advance_seconds": 0})["now"]
    start = (now // DAY + 1) * DAY + 300
    offset["seconds"] = emu.call("POST", "/emulator/clock", {"advance_seconds": start - now})[
        "offset_seconds"
    ]
    emu.call("POST", "/emulator/transaction-updates", {"enabled": True})

    user = User.objects.create_user("household")
    client = Client()
    items = [
        linking.item_link_sandbox(
            user=user, institution_id=inst, webhook=settings.PLAID_WEBHOOK_URL
        )
        for inst in INSTITUTIONS
    ]
    created = {i.pk: i.created_at.timestamp() for i in items}
    plaid_ids = {i.pk: i.plaid_item_id for i in items}
    updates: dict[int, list[float]] = {i.pk: [] for i in items}
    looks: list[dict[str, Any]] = []
    expected_webhooks = 0
    wall0 = time.perf_counter()
    t = start
    end = start + days * DAY
    sent_in_second = -1
    while t < end:
        if int(time.time()) == sent_in_second:
            # Webhooks are signed with the wall clock's second (`iat`): two of one Item in
            # one wall second would be the same delivery to the app (a replay). Hours
            # apart in simulated time, they must be seconds apart on the wall too.
            time.sleep(1.0 - time.time() % 1.0 + 0.01)
        reply = emu.call("POST", "/emulator/clock", {"advance_seconds": STEP})
        if reply["transaction_updates"]:
            sent_in_second = int(time.time())
        offset["seconds"] = reply["offset_seconds"]
        for pk in updates:
            updates[pk] += transaction_update_times(0, plaid_ids[pk], t, t + STEP)
        t += STEP
        expected_webhooks += reply["transaction_updates"]
        rcv.wait_for(expected_webhooks)
        if int(t) % HOUR < STEP:
            tasks.refresh_all_items.delay()  # beat's hourly fan-out (eager)
        minute_of_day = int(t % DAY) // 60
        if any(abs(minute_of_day - (h * 60 + m)) < STEP // 120 for h, m in LOOKS):
            looks.append(look(client, user, items, updates, created, shared_state))
    wall = time.perf_counter() - wall0
    rcv.stop()

    calls = list(
        PlaidCall.objects.filter(item__owner=user).values_list("item_id", "endpoint", "error_code")
    )
    billed = [c for c in calls if c[1] == "/accounts/balance/get" and not c[2]]
    per_item = {pk: sum(1 for c in billed if c[0] == pk) / days for pk in plaid_ids}
    per_item_day: list[int] = []
    for pk in plaid_ids:
        for d in range(days):
            lo = dt.datetime.fromtimestamp(start + d * DAY, tz=dt.UTC)
            hi = dt.datetime.fromtimestamp(start + (d + 1) * DAY, tz=dt.UTC)
            per_item_day.append(
                PlaidCall.objects.filter(
                    item_id=pk,
                    endpoint="/accounts/balance/get",
                    error_code="",
                    called_at__gte=lo,
                    called_at__lt=hi,
                ).count()
            )
    after = [a for lk in looks for a in lk["after"]]
    before = [a for lk in looks for a in lk["before"]]
    fetch_ages = [a for lk in looks for a in lk["fetch_age_before"]]
    fresher_than_cache = all(lk["fresher_than_cache"] for lk in looks)
    bound = policy["BALANCE_REFRESH_ON_OPEN_AFTER"]
    mean_calls = len(billed) / len(plaid_ids) / days
    ok = (
        mean_calls <= GOAL_CALLS_PER_ITEM_DAY
        and max(after, default=0) <= bound
        and max(fetch_ages, default=0) <= policy["BALANCE_REFRESH_INTERVAL"]
        and fresher_than_cache
    )
    return {
        "policy": policy,
        "wall_seconds": wall,
        "webhooks": expected_webhooks,
        "webhook_results": _count(rcv.results),
        "calls": {
            "billed": len(billed),
            "cached": sum(1 for c in calls if c[1] == "/accounts/get" and not c[2]),
            "errors": sum(1 for c in calls if c[2]),
        },
        "billed_per_item_per_day": mean_calls,
        "billed_per_item": {plaid_ids[pk][-6:]: round(v, 2) for pk, v in per_item.items()},
        "billed_item_day_max": max(per_item_day, default=0),
        "billed_item_days_over_goal": sum(1 for n in per_item_day if n > GOAL_CALLS_PER_ITEM_DAY),
        "item_days": len(per_item_day),
        "looks": len(looks),
        "age_before_median_h": common.median(before) / HOUR if before else 0.0,
        "age_before_max_h": max(before, default=0) / HOUR,
        "age_after_median_h": common.median(after) / HOUR if after else 0.0,
        "age_after_p95_h": common.percentile(after, 95) / HOUR if after else 0.0,
        "age_after_max_h": max(after, default=0) / HOUR,
        "fetch_age_max_min": max(fetch_ages, default=0) / 60,
        "looks_refreshing": sum(lk["refreshed"] for lk in looks),
        "fresher_than_cache": fresher_than_cache,
        "ok": ok,
    }


def _count(values: list[str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for v in values:
        key = v.split(";")[-1].strip()
        out[key] = out.get(key, 0) + 1
    return out


def look(
    client: Any,
    user: Any,
    items: list[Any],
    updates: dict[int, list[float]],
    created: dict[int, float],
    shared_state: Any,
) -> dict[str, Any]:
    """The user opens the dashboard: ages before and after the refresh it queues."""
    from django.utils import timezone

    from balances.models import PlaidCall, PlaidItem

    now = timezone.now().timestamp()
    for item in items:
        # Hours passed since the last look: "Refresh now"'s interval has too.
        shared_state.refresh_now_release(item.pk)

    def ages() -> tuple[list[float], list[float], list[float]]:
        data, fetch, as_ofs = [], [], []
        for item in PlaidItem.objects.filter(pk__in=[i.pk for i in items]).order_by("pk"):
            last = (
                PlaidCall.objects.filter(item=item, error_code="")
                .order_by("-called_at")
                .values_list("endpoint", "called_at")
                .first()
            )
            assert last is not None and item.last_refreshed_at is not None
            as_of = data_as_of(
                item, last[0], last[1].timestamp(), updates[item.pk], created[item.pk]
            )
            data.append(max(0.0, now - as_of))
            fetch.append(now - item.last_refreshed_at.timestamp())
            as_ofs.append(as_of)
        return data, fetch, as_ofs

    before, fetch_before, _ = ages()
    client.force_login(user)
    calls0 = PlaidCall.objects.filter(item__owner=user).count()
    response = client.get("/")
    if response.status_code != 200:
        raise RuntimeError(f"GET / answered {response.status_code}")
    after, _, as_ofs = ages()
    # Fresher than Plaid's own cache: never older than the cache's latest refresh (its
    # day's start, its last transaction update: what a webhook announced).
    cache = [
        max(now - now % DAY, max((u for u in updates[i.pk] if u <= now), default=0.0))
        for i in sorted(items, key=lambda i: i.pk)
    ]
    return {
        "at": now,
        "before": before,
        "fetch_age_before": fetch_before,
        "after": after,
        "refreshed": PlaidCall.objects.filter(item__owner=user).count() - calls0,
        "fresher_than_cache": all(a >= c - 1 for a, c in zip(as_ofs, cache, strict=True)),
    }


def markdown(out: dict[str, Any]) -> str:
    """Render the section of docs/BENCHMARKS.md from the raw figures."""
    p = out["policy"]
    goal = GOAL_CALLS_PER_ITEM_DAY
    verdict = "met" if out["ok"] else "missed"
    intro = " ".join(
        [
            f"`bench/cost_month.py` ({out['date']}; {out['machine']}): a household of",
            f"{out['items']} Items over {out['days']} simulated days (15-minute steps of the",
            "emulator's clock, which the app's `timezone.now` follows), with the shipped",
            f"policy: scheduled refreshes `{p['BALANCE_SCHEDULED_SOURCE']}` every",
            f"{p['BALANCE_REFRESH_INTERVAL'] // 60} minutes, real time after linking, on each",
            "DEFAULT_UPDATE webhook, and on opening the dashboard when the real-time balances",
            f"are older than {p['BALANCE_REFRESH_ON_OPEN_AFTER'] // 3600} h; the dashboard is",
            f"opened at {LOOKS[0][0]:02d}:{LOOKS[0][1]:02d} and {LOOKS[1][0]:02d}:{LOOKS[1][1]:02d}",
            "UTC (`GET /`, between beat's hourly fan-outs). Webhooks as",
            "the emulator fires them (1-4 transaction updates a day per Item, seeded), over",
            "HTTP to `webhooks.webhook_receive` (signature verified). Tasks run eagerly in the",
            "process; no Redis. Age of what a look shows: now minus when the bank's balances",
            "it shows were true (a real-time call's time; for Plaid's cached balances, the",
            "cache's last refresh before the fetch); *after* is once the refresh the look",
            "queued has landed (the page updates itself), what the user reads.",
            f"Wall time of the simulation: {out['wall_seconds']:.0f} s.",
        ]
    )
    rows = [
        (
            "billed calls per Item per day (mean)",
            f"{out['billed_per_item_per_day']:.2f} (per Item: "
            + ", ".join(f"{v}" for v in out["billed_per_item"].values())
            + f"; busiest Item-day {out['billed_item_day_max']}, "
            f"{out['billed_item_days_over_goal']} of {out['item_days']} Item-days over {goal:.0f})",
            f"≤ {goal:.0f}",
        ),
        (
            "calls in all",
            f"{out['calls']['billed']:,} billed, {out['calls']['cached']:,} cached (free), "
            f"{out['calls']['errors']} failed; {out['webhooks']} webhooks",
            "",
        ),
        (
            "balance age at a look, before its refresh",
            f"median {out['age_before_median_h']:.1f} h, max {out['age_before_max_h']:.1f} h",
            "",
        ),
        (
            "balance age at a look, after its refresh",
            f"median {out['age_after_median_h']:.2f} h, p95 {out['age_after_p95_h']:.2f} h, "
            f"max {out['age_after_max_h']:.2f} h ({out['looks']} looks, "
            f"{out['looks_refreshing']} real-time refreshes queued by them)",
            f"≤ {p['BALANCE_REFRESH_ON_OPEN_AFTER'] // 3600} h",
        ),
        (
            "time since the last fetch at a look",
            f"max {out['fetch_age_max_min']:.0f} min",
            f"≤ {p['BALANCE_REFRESH_INTERVAL'] // 60} min",
        ),
        (
            "never older than Plaid's own cache (after each webhook)",
            "yes" if out["fresher_than_cache"] else "no",
            "yes",
        ),
    ]
    table = "\n".join(f"| {a} | {b} | {c} |" for a, b, c in rows)
    return f"""## {TITLE}

{intro}

| figure | measured | goal |
|---|---|---|
{table}

Verdict: {verdict}.
"""


if __name__ == "__main__":
    threading.current_thread().name = "bench"
    sys.exit(main())
