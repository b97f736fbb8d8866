"""Admin: staff see bank data, only superusers change or delete it."""

from __future__ import annotations

import pytest
from django.test import Client

from balances.models import PlaidItem
from tests.factories import AccountFactory, UserFactory

pytestmark = pytest.mark.django_db


def admin_client(*, superuser: bool) -> Client:
    client = Client()
    client.force_login(
        UserFactory(
            username="root" if superuser else "staff", is_staff=True, is_superuser=superuser
        )
    )
    return client


def test_staff_see_items_and_accounts_but_cannot_change_them() -> None:
    account = AccountFactory()
    item = account.item
    staff = admin_client(superuser=False)
    assert "Plaid Items" in staff.get("/admin/").content.decode()
    assert staff.get("/admin/balances/plaiditem/").status_code == 200
    page = staff.get(f"/admin/balances/plaiditem/{item.pk}/change/")
    assert page.status_code == 200
    html = page.content.decode()
    assert account.name in html  # the accounts inline is visible too
    assert 'name="_save"' not in html  # read-only: no save button
    response = staff.post(
        f"/admin/balances/plaiditem/{item.pk}/change/",
        {"institution_name": "Renamed", "status": "revoked"},
    )
    assert response.status_code == 403
    assert (
        staff.post(f"/admin/balances/plaiditem/{item.pk}/delete/", {"post": "yes"}).status_code
        == 403
    )
    assert staff.get(f"/admin/balances/account/{account.pk}/change/").status_code == 200
    item.refresh_from_db()
    assert item.institution_name != "Renamed"


def test_superusers_can_change_items_but_remove_them_only_through_plaid() -> None:
    item = AccountFactory().item
    root = admin_client(superuser=True)
    page = root.get(f"/admin/balances/plaiditem/{item.pk}/change/").content.decode()
    assert 'name="_save"' in page
    # A plain delete would leave the Item linked (and billed) at Plaid: refused.
    response = root.post(f"/admin/balances/plaiditem/{item.pk}/delete/", {"post": "yes"})
    assert response.status_code == 403
    assert PlaidItem.objects.filter(pk=item.pk).exists()
    changelist = root.get("/admin/balances/plaiditem/").content.decode()
    assert "remove_at_plaid" in changelist
    assert "delete_selected" not in changelist


def test_a_user_with_items_cannot_be_deleted_in_the_admin() -> None:
    item = AccountFactory().item
    root = admin_client(superuser=True)
    url = f"/admin/auth/user/{item.owner.pk}/delete/"
    page = root.get(url).content.decode()
    assert "would require deleting the following protected related objects" in page or (
        "your account doesn't have permission to delete the following types of objects" in page
    )
    root.post(url, {"post": "yes"})
    assert PlaidItem.objects.filter(pk=item.pk).exists()
