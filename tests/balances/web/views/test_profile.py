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


def test_settings_page_shows_the_users_own_billed_calls_and_estimate(client, settings):
    from decimal import Decimal

    from django.utils import timezone

    from balances.models import PlaidCall

    user = UserFactory()
    mine = PlaidItemFactory(owner=user, institution_name="Chase")
    theirs = PlaidItemFactory(institution_name="Other Bank")
    now = timezone.now()
    for item, n in ((mine, 3), (theirs, 5)):
        for _ in range(n):
            PlaidCall.objects.create(item=item, called_at=now, endpoint="/accounts/balance/get")
    PlaidCall.objects.create(item=mine, called_at=now, endpoint="/accounts/get")  # free
    client.force_login(user)
    settings.PLAID_BALANCE_PRICE = None
    page = tight_text(client.get(reverse("profile_settings")))
    assert "Plaid usage" in page
    assert '<th scope="row">Chase</th><td class="num">3</td><td class="num">3</td>' in page
    assert "Other Bank" not in page and "Estimated" not in page
    settings.PLAID_BALANCE_PRICE = Decimal("0.25")
    page = tight_text(client.get(reverse("profile_settings")))
    assert '<td class="num">0.75</td>' in page
    assert "Estimated at 0.25 a call" in page
