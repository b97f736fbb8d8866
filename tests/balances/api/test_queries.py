"""`GET /api/v1/accounts/` and `/api/v1/net-worth/` make the same number of queries for 5,
100 and 1,000 accounts (the dashboard's sizes, tests/balances/selectors/test_dashboard.py),
with a real token. Times are measured by the benchmark (bench/api.py), never here."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.balances.api.conftest import TokenClient
from tests.balances.selectors.test_dashboard import (
    SIZES,
    make_user_with,
    manual_count,
    usd_net_worth,
)

pytestmark = pytest.mark.django_db

PATHS = (
    "/api/v1/accounts/",
    "/api/v1/accounts/?type=credit&type=depository",
    "/api/v1/accounts/?page_size=1000",
    "/api/v1/net-worth/",
    "/api/v1/net-worth/history/?range=1y",
    "/api/v1/connections/",
    "/api/v1/manual-accounts/",
)
# Token (1), then the endpoint: accounts count + page, of Plaid's and of manual accounts;
# net worth profile, balances, manual balances, as-of; history profile + 2; connections
# count + page + accounts' ids.
MAX_QUERIES = 5


def test_queries_are_the_same_for_5_100_and_1000_accounts(
    make_client: Any, django_assert_max_num_queries: Any
) -> None:
    counts: dict[str, list[int]] = {path: [] for path in PATHS}
    for accounts, items in SIZES:
        client: TokenClient = make_client(make_user_with(accounts, items))
        client.get("/api/v1/net-worth/")  # the token's first use writes last_used_at
        for path in PATHS:
            with (
                django_assert_max_num_queries(MAX_QUERIES),
                CaptureQueriesContext(connection) as queries,
            ):
                response = client.get(path)
            assert response.status_code == 200, path
            counts[path].append(len(queries))
            body = response.json()
            if path == "/api/v1/accounts/":
                # Not flat for the wrong reason: every account counted, a full page listed.
                total = accounts + manual_count(accounts)
                assert body["count"] == total and len(body["results"]) == min(total, 100)
            if path == "/api/v1/accounts/?page_size=1000":
                listed = body["results"]
                total = accounts + manual_count(accounts)
                assert len(listed) == min(total, 1000)
                # Manual accounts come after the Plaid ones.
                manual = sum(a["source"] == "manual" for a in listed)
                assert manual == min(total, 1000) - accounts
            if path == "/api/v1/net-worth/":
                usd = next(t for t in body["totals"] if t["currency"] == "USD")
                assert usd["net_worth"] == f"{usd_net_worth(accounts)}.00"
            if path == "/api/v1/connections/":
                assert body["count"] == items
                assert sum(len(c["accounts"]) for c in body["results"]) == min(
                    accounts, 100 * accounts // items
                )
    for path, per_size in counts.items():
        if path.startswith("/api/v1/accounts/"):
            # One query more when the page reaches past the Plaid accounts into the
            # manual ones (it depends on where the page falls, not on how many accounts).
            assert max(per_size) - min(per_size) <= 1, (path, per_size)
            continue
        assert len(set(per_size)) == 1, (path, per_size)
