"""Fixtures for the view tests of balances/web/views/."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.utils import timezone

from balances.models import BalanceSnapshot
from balances.services import net_worth
from tests.factories import UserFactory


@pytest.fixture
def backdate_snapshots(db: Any) -> Callable[[Any, int], None]:
    """Return `backdate(user, days)`: copy the user's snapshots `days` back with 10% lower
    balances (history), and rebuild the user's net worth history."""

    def backdate(user: Any, days: int) -> None:
        past = timezone.now() - timedelta(days=days)
        BalanceSnapshot.objects.bulk_create(
            BalanceSnapshot(
                account=s.account,
                taken_at=past,
                available=s.available,
                current=None if s.current is None else s.current * Decimal("0.9"),
                limit=s.limit,
            )
            for s in BalanceSnapshot.objects.filter(account__item__owner=user)
        )
        net_worth.net_worth_rebuild(user_id=user.pk)  # history written behind the refreshes' back

    return backdate


@pytest.fixture
def user(client: Any) -> Any:
    """A new user, signed in on `client`."""
    user = UserFactory()
    client.force_login(user)
    return user
