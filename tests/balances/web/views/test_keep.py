"""Choosing which of two connections to one bank to keep (`balances.web.views.keep`), and
what linking a bank again says. Access and CSRF: tests/finance/security/."""

from __future__ import annotations

import pytest
from django.urls import reverse

from balances.models import Account, PlaidItem
from balances.services import store
from tests.factories import PlaidItemFactory
from tests.helpers import link_again, new_link, text, tight_text

pytestmark = pytest.mark.django_db


@pytest.fixture
def linked_twice(user, fake_plaid):
    """`user` with Plaid's example bank (five accounts) and, linked later, the same bank
    with only the checking account and the card: (older, newer)."""
    first = PlaidItemFactory(owner=user)
    fake_plaid.add_item(first.access_token)
    store.item_refresh_balances(item=first)
    return first, link_again(fake_plaid, user)


def test_the_page_lists_both_connections_with_their_masks(client, linked_twice):
    first, second = linked_twice
    page = text(client.get(reverse("item_keep", args=[second.pk])))
    assert "Chase (…0000, …1111, …2222, …3333, …)" in page
    assert "Chase (…0000, …3333)" in page
    assert page.count("counted in the other connection") == 2
    assert f'action="{reverse("item_keep", args=[first.pk])}"' in page
    assert f'action="{reverse("item_keep", args=[second.pk])}"' in page


def test_keeping_one_removes_the_other_at_plaid_and_here(client, linked_twice, fake_plaid):
    first, second = linked_twice
    response = client.post(reverse("item_keep", args=[first.pk]))
    assert response.status_code == 302 and response.url == reverse("dashboard")
    assert fake_plaid.removed == [second.access_token]
    assert list(PlaidItem.objects.all()) == [first]
    page = tight_text(client.get(reverse("dashboard")))
    assert "Kept Chase; removed Chase." in page
    assert 'data-currency="USD">$44,110.00<' in page


def test_a_connection_sharing_nothing_has_nothing_to_choose(client, user, fake_plaid):
    item = PlaidItemFactory(owner=user)
    for method in (client.get, client.post):
        response = method(reverse("item_keep", args=[item.pk]))
        assert response.status_code == 302 and response.url == reverse("connections")
    assert fake_plaid.removed == []
    assert PlaidItem.objects.count() == 1


def test_plaid_refusing_the_removal_keeps_both(client, linked_twice, fake_plaid):
    first, _second = linked_twice
    fake_plaid.fail_next("INTERNAL_SERVER_ERROR", retryable=True, status=500)
    response = client.post(reverse("item_keep", args=[first.pk]), follow=True)
    assert PlaidItem.objects.count() == 2
    assert "could not be reached" in text(response)


def test_the_dashboard_counts_shared_accounts_once_and_tells_connections_apart(
    client, linked_twice
):
    first, second = linked_twice
    page = tight_text(client.get(reverse("dashboard")))
    assert 'data-currency="USD">$44,110.00<' in page
    assert "Chase (…0000, …3333)" in page
    assert page.count("Choose which connection to keep") == 2
    assert page.count('data-mask="0000"') == 1  # the dashboard lists the counted copy
    cash = text(client.get(reverse("account_group", args=["depository"])))
    assert cash.count('data-mask="0000"') == 2
    assert cash.count("also in your other Chase connection · counted there, not here") == 1
    connections = text(client.get(reverse("connections")))
    assert "Chase (…0000, …3333)" in connections
    assert "Choose which connection to keep" in connections
    assert Account.objects.filter(item=second, duplicate_of__item=first).count() == 2


def test_linking_a_subset_again_sends_the_user_to_choose(client, user, fake_plaid):
    first_token, metadata, _ = new_link(fake_plaid)
    client.post(
        reverse("link_exchange"),
        {"public_token": first_token, "metadata": metadata},
        content_type="application/json",
    )
    second_token, metadata, _ = new_link(fake_plaid)
    reply = fake_plaid.replies[fake_plaid.public_tokens[second_token][0]]
    reply["accounts"] = [{**a, "account_id": a["account_id"] + "-2"} for a in reply["accounts"][:2]]
    response = client.post(
        reverse("link_exchange"),
        {"public_token": second_token, "metadata": metadata},
        content_type="application/json",
    )
    second = PlaidItem.objects.latest("pk")
    assert response.json() == {
        "redirect": reverse("item_keep", args=[second.pk]),
        "item": second.pk,
    }
    page = text(client.get(response.json()["redirect"]))
    assert "is also linked in another connection (Chase)" in page
    assert "Each account they share counts once in your net worth" in page


def test_a_copys_account_page_says_where_it_counts(client, linked_twice):
    first, second = linked_twice
    copy = Account.objects.get(item=second, mask="0000")
    page = text(client.get(reverse("account_detail", args=[copy.pk])))
    assert "also in your other Chase connection and counts there, not here" in page
    assert (
        reverse("item_keep", args=[second.pk])
        in client.get(reverse("account_detail", args=[copy.pk])).content.decode()
    )
    counted = Account.objects.get(item=first, mask="0000")
    assert "counts there" not in text(client.get(reverse("account_detail", args=[counted.pk])))
