"""Two users with data of their own, for isolation and leak tests."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client

from balances.models import (
    Account,
    Alert,
    AlertChannel,
    AlertMessage,
    AlertRule,
    ApiToken,
    BalanceSnapshot,
    HouseholdShare,
    ManualAccount,
    ManualValue,
    PlaidCall,
    PlaidItem,
)
from tests.e2e.conftest import emulator  # noqa: F401 (fixture: the offline Plaid emulator)
from tests.factories import AccountFactory, PlaidItemFactory, UserFactory

# Words that appear only in user A's data: B must never see them.
A_MARKERS = (
    "Alderbank A-only",
    "Aardvark Checking",
    "Avocado Savings",
    "A-ONLY-OFFICIAL",
    "Alderbank A-only house",
)


@dataclass
class Tenant:
    user: User
    item: PlaidItem
    accounts: list[Account]
    snapshots: list[BalanceSnapshot]
    call: PlaidCall
    api_token: ApiToken
    manual: ManualAccount
    # A share to the user's partner (accepted, all accounts) and one from the partner to
    # the user (invited): the partner is neither tenant, so no other tenant sees anything.
    share_given: HouseholdShare
    share_received: HouseholdShare
    alert_rule: AlertRule
    alert_channel: AlertChannel
    alert: Alert

    def ids(self) -> list[int]:
        """Every primary key of this user's objects (Items, Accounts, snapshots, calls,
        API tokens, manual accounts, household shares, alert rules, push channels, alerts)."""
        return sorted(
            {
                self.item.pk,
                *(a.pk for a in self.accounts),
                *(s.pk for s in self.snapshots),
                self.call.pk,
                self.api_token.pk,
                self.manual.pk,
                self.share_given.pk,
                self.share_received.pk,
                self.alert_rule.pk,
                self.alert_channel.pk,
                self.alert.pk,
            }
        )


def make_tenant(username: str, *, base: int, names: tuple[str, ...], institution: str) -> Tenant:
    """Create a user with one Item, two accounts with history, a Plaid call log row, an
    API token and an account entered by hand (both named after the institution: markers).

    Primary keys start at `base` in every table, so one user's ids never equal another's:
    a request that answers for an id can only be answering with that user's object.
    """
    user = UserFactory(username=username)
    item = PlaidItemFactory(
        pk=base,
        owner=user,
        institution_name=institution,
        plaid_item_id=f"item-{username}",
        access_token=f"access-sandbox-{username}-0000-secret",
    )
    accounts = [
        AccountFactory(
            pk=base + 10 + i,
            item=item,
            name=name,
            official_name=f"{name} {names[-1] if i else ''}".strip(),
            plaid_account_id=f"acct-{username}-{i}",
            current=Decimal("1234.56") + i,
        )
        for i, name in enumerate(names[:-1])
    ]
    when = datetime(2026, 1, 1, tzinfo=UTC)
    # bulk_create: save() refuses a snapshot that already has a primary key.
    snapshots = BalanceSnapshot.objects.bulk_create(
        BalanceSnapshot(
            pk=base + 20 + i, account=a, taken_at=when, available=a.available, current=a.current
        )
        for i, a in enumerate(accounts)
    )
    call = PlaidCall.objects.create(
        pk=base + 30, item=item, called_at=when, endpoint="/accounts/balance/get"
    )
    api_token = ApiToken.objects.create(
        pk=base + 40,
        user=user,
        name=f"{institution} token",
        token_hash=f"{base:064d}",
        prefix="bal_test",
    )
    # Saved as is (not through the service): the daily totals do not matter here.
    manual = ManualAccount.objects.create(
        pk=base + 50,
        owner=user,
        name=f"{institution} house",
        kind=ManualAccount.Kind.ASSET,
        category=ManualAccount.Category.PROPERTY,
        iso_currency_code="USD",
        value=Decimal(350000),
        value_as_of=when.date(),
    )
    ManualValue.objects.create(pk=base + 50, account=manual, value=manual.value, as_of=when.date())
    partner = UserFactory(username=f"{username}-partner")
    share_given = HouseholdShare.objects.create(
        pk=base + 60, owner=user, viewer=partner, state=HouseholdShare.State.ACCEPTED
    )
    share_received = HouseholdShare.objects.create(pk=base + 61, owner=partner, viewer=user)
    alert_rule = AlertRule.objects.create(
        pk=base + 60,
        owner=user,
        kind=AlertRule.Kind.BALANCE_BELOW,
        scope=AlertRule.Scope.ACCOUNT,
        account=accounts[0],
        threshold=Decimal(100),
        currency="USD",
    )
    alert_channel = AlertChannel(pk=base + 70, owner=user, name=f"{institution} phone", hint="JSON")
    alert_channel.url = f"json://127.0.0.1:9/{username}-push-secret"
    alert_channel.save()
    message = AlertMessage.objects.create(pk=base + 80, owner=user, created_at=when)
    alert = Alert.objects.create(
        pk=base + 80,
        owner=user,
        message=message,
        item=item,
        key=f"item:{item.pk}:login",
        title=f"{institution} needs you to log in again",
        text=f"{institution} stopped sharing balances.",
        link="/connections/",
        link_label="Reconnect",
        created_at=when,
    )
    return Tenant(
        alert_rule=alert_rule,
        alert_channel=alert_channel,
        alert=alert,
        user=user,
        item=item,
        accounts=accounts,
        snapshots=snapshots,
        call=call,
        api_token=api_token,
        manual=manual,
        share_given=share_given,
        share_received=share_received,
    )


@pytest.fixture
def tenant_a(db: Any) -> Tenant:
    return make_tenant(
        "alice",
        base=1000,
        names=("Aardvark Checking", "Avocado Savings", "A-ONLY-OFFICIAL"),
        institution="Alderbank A-only",
    )


@pytest.fixture
def tenant_b(db: Any) -> Tenant:
    return make_tenant(
        "bob",
        base=5000,
        names=("Beaver Checking", "Bison Savings", "B-ONLY-OFFICIAL"),
        institution="Birchbank B-only",
    )


def client_for(user: User, **kwargs: Any) -> Client:
    client = Client(raise_request_exception=False, **kwargs)
    client.force_login(user)
    return client
