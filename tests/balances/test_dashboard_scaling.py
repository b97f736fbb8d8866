"""The dashboard's query count is flat in accounts and Items (issue 8, target 1).

5 accounts in 1 Item, 100 in 20 and 1,000 in 200 (bench/dashboard.py's sizes), each with
history: every dashboard request runs the same number of queries for all three users, and
at most 10; the page lists a bounded number of rows while its totals count every account.
Times are measured by the benchmark, never here.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from balances.models import Account, BalanceSnapshot, PlaidItem
from balances.services import net_worth
from tests.factories import PlaidItemFactory, UserFactory

pytestmark = pytest.mark.django_db

SIZES = ((5, 1), (100, 20), (1000, 200))
PATHS = ("/", "/?range=1y&since=1m", "/?range=all", "/api/dashboard/?range=1y")


def make_user_with(accounts: int, items: int):
    user = UserFactory()
    made = [
        PlaidItemFactory(
            owner=user, institution_name=f"Bank {n % 40}", last_refreshed_at=timezone.now()
        )
        for n in range(items)
    ]
    types = ["depository", "credit", "investment", "loan", "other"]
    Account.objects.bulk_create(
        Account(
            item=made[n % items],
            plaid_account_id=f"acct-{user.pk}-{n}",
            name=f"Account {n}",
            mask=f"{n:04d}",
            type=types[n % 5],
            iso_currency_code="CAD" if n % 7 == 0 else "USD",
            available=Decimal(n),
            current=Decimal(n + 10),
            limit=Decimal(5000) if n % 5 == 1 else None,
        )
        for n in range(accounts)
    )
    now = timezone.now()
    BalanceSnapshot.objects.bulk_create(
        BalanceSnapshot(account=a, taken_at=now - timedelta(days=d), current=a.current + d)
        for a in Account.objects.filter(item__owner=user)
        for d in (0, 5, 40, 200)
    )
    assert PlaidItem.objects.filter(owner=user).count() == items
    net_worth.net_worth_rebuild(user_id=user.pk)
    return user


def test_dashboard_queries_are_the_same_for_5_100_and_1000_accounts(
    client, django_assert_max_num_queries, settings
):
    settings.DASHBOARD_ACCOUNTS_PER_GROUP = 20
    settings.DASHBOARD_CONNECTIONS_SHOWN = 20
    counts: dict[str, list[int]] = {path: [] for path in PATHS}
    for accounts, items in SIZES:
        client.force_login(make_user_with(accounts, items))
        for path in PATHS:
            with (
                django_assert_max_num_queries(10),
                CaptureQueriesContext(connection) as queries,
            ):
                response = client.get(path)
            assert response.status_code == 200
            counts[path].append(len(queries))
            if path == "/":
                page = response.content.decode()
                # At most 20 per type; every Item is fresh, so at most 20 connections.
                assert page.count('<tr class="account"') == min(accounts, 5 * 20)
                assert page.count('<li class="connection') == min(items, 20)
                # The headline counts every account: sum(n + 10) over the USD ones.
                usd = sum(n + 10 for n in range(accounts) if n % 7 and n % 5 not in (1, 3))
                usd -= sum(n + 10 for n in range(accounts) if n % 7 and n % 5 in (1, 3))
                assert f"${usd:,}.00" in page
        # Every account is listed (a cut list would be flat for the wrong reason).
        listed = sum(len(group["accounts"]) for group in response.json()["groups"])
        assert listed == accounts
    for path, per_size in counts.items():
        assert len(set(per_size)) == 1, (path, per_size)
