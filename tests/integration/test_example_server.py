"""Any server answering Plaid's API with the Retrieve Balance sample yields its five accounts."""

import re

import pytest
from django.core.management import call_command

from balances.models import Account
from tests.conftest import example_reply
from tests.factories import PlaidItemFactory, UserFactory
from tests.helpers import text

pytestmark = pytest.mark.django_db


def test_refresh_against_example_server_shows_five_accounts_and_44110(stub_plaid, client):
    stub_plaid.reply("/accounts/balance/get", example_reply())
    user = UserFactory()
    item = PlaidItemFactory(owner=user)

    call_command("refresh_balances", "--sync")

    assert sorted(Account.objects.filter(item=item).values_list("name", flat=True)) == [
        "Plaid CD",
        "Plaid Checking",
        "Plaid Credit Card",
        "Plaid Money Market",
        "Plaid Saving",
    ]
    client.force_login(user)
    page = text(client.get("/"))
    assert page.count('<tr class="account"') == 5
    assert re.search(r'class="net-worth" data-currency="USD">\s*\$44,110\.00\s*<', page)
    path, _headers, body = stub_plaid.requests[0]
    assert path == "/accounts/balance/get"
    assert body["access_token"] == item.access_token
