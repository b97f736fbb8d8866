"""The settings page: the main currency."""

from __future__ import annotations

import pytest
from django.urls import reverse

from balances.models import Profile
from tests.factories import AccountFactory, PlaidItemFactory, UserFactory
from tests.helpers import tight_text

pytestmark = pytest.mark.django_db


def test_settings_page_changes_the_main_currency(client):
    user = UserFactory()
    AccountFactory(item=PlaidItemFactory(owner=user), iso_currency_code="CAD")
    client.force_login(user)
    page = tight_text(client.get(reverse("profile_settings")))
    assert '<label for="id_main_currency">Main currency</label>' in page
    assert "CAD (your accounts)" in page
    response = client.post(reverse("profile_settings"), {"main_currency": "CAD"})
    assert response.status_code == 302
    assert Profile.objects.get(user=user).main_currency == "CAD"


@pytest.mark.parametrize("value", ["", "XYZ", "usd1", "BTC"])
def test_settings_rejects_bad_currencies(client, value):
    user = UserFactory()
    Profile.objects.create(user=user, main_currency="EUR")
    client.force_login(user)
    response = client.post(reverse("profile_settings"), {"main_currency": value})
    assert response.status_code == 400
    assert 'role="alert"' in response.content.decode()
    assert Profile.objects.get(user=user).main_currency == "EUR"
