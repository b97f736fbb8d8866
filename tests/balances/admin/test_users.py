"""The User admin: a user's page lists their Items, read-only."""

import pytest
from django.urls import reverse

from tests.factories import PlaidItemFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_user_page_lists_their_items_read_only(admin_client):
    owner = UserFactory(username="uma")
    mine = PlaidItemFactory(owner=owner, institution_name="First Gingham CU")
    theirs = PlaidItemFactory(institution_name="Tattersall FCU")
    page = admin_client.get(reverse("admin:auth_user_change", args=[owner.pk])).content.decode()
    assert "First Gingham CU" in page and "Tattersall FCU" not in page
    assert reverse("admin:balances_plaiditem_change", args=[mine.pk]) in page
    assert mine.access_token not in page
    assert 'name="plaid_items-0-institution_name"' not in page  # shown, not editable
    assert theirs.pk != mine.pk
