"""`balances.selectors.exports`: every account and snapshot of a user, each account once."""

from __future__ import annotations

import pytest

from balances.models import Account
from balances.selectors import exports
from tests.helpers import link_again

pytestmark = pytest.mark.django_db


def test_an_account_linked_twice_is_exported_once(refreshed_user, fake_plaid):
    again = link_again(fake_plaid, refreshed_user)  # the checking account and the card
    rows = list(exports.accounts_for_export(user=refreshed_user))
    assert sorted(a.mask for a in rows) == ["0000", "1111", "2222", "3333", "4444"]
    assert not any(a.item_id == again.pk for a in rows)
    snapshots = list(exports.snapshots_for_export(user=refreshed_user))
    assert sorted(row[3] for row in snapshots) == ["0000", "1111", "2222", "3333", "4444"]
    assert Account.objects.filter(item=again).count() == 2
