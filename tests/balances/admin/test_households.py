"""Household shares in the admin: staff see them; only a superuser ends one (an action),
and nobody adds or deletes one there."""

import pytest
from django.test import Client

from balances.models import HouseholdShare
from balances.services import households
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/balances/householdshare/"


@pytest.fixture
def share():
    alice, _bob = UserFactory(username="alice"), UserFactory(username="bob")
    return households.share_accept(share=households.share_invite(owner=alice, username="bob"))


def test_a_superuser_ends_a_share(admin_client, share):
    page = admin_client.get(CHANGELIST).content.decode()
    assert "alice" in page and "bob" in page and "end_shares" in page
    response = admin_client.post(
        CHANGELIST, {"action": "end_shares", "_selected_action": [share.pk]}, follow=True
    )
    assert "1 share(s) ended." in response.content.decode()
    assert HouseholdShare.objects.get(pk=share.pk).state == HouseholdShare.State.ENDED
    # Again: nothing left to end.
    response = admin_client.post(
        CHANGELIST, {"action": "end_shares", "_selected_action": [share.pk]}, follow=True
    )
    assert "0 share(s) ended." in response.content.decode()


def test_staff_see_shares_but_cannot_end_them(share):
    staff = UserFactory(username="staff", is_staff=True)
    client = Client()
    client.force_login(staff)
    page = client.get(CHANGELIST)
    assert page.status_code == 200 and "alice" in page.content.decode()
    assert "end_shares" not in page.content.decode()
    client.post(CHANGELIST, {"action": "end_shares", "_selected_action": [share.pk]})
    assert HouseholdShare.objects.get(pk=share.pk).state == HouseholdShare.State.ACCEPTED
    assert client.get(f"{CHANGELIST}{share.pk}/change/").status_code == 200


def test_nobody_adds_or_deletes_a_share_in_the_admin(admin_client, share):
    assert admin_client.get(f"{CHANGELIST}add/").status_code == 403
    assert admin_client.post(f"{CHANGELIST}{share.pk}/delete/", {"post": "yes"}).status_code == 403
    assert HouseholdShare.objects.filter(pk=share.pk).exists()
