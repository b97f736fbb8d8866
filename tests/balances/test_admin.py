import pytest
from django.urls import reverse

from balances.models import PlaidItem
from balances.services import store
from tests.factories import PlaidItemFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client):
    client.force_login(UserFactory(username="admin", is_staff=True, is_superuser=True))
    return client


@pytest.fixture
def item(fake_plaid):
    item = PlaidItemFactory(owner=UserFactory(username="alice"))
    fake_plaid.add_item(item.access_token)
    store.item_refresh_balances(item=item)
    return item


def test_changelist_shows_items_without_tokens(staff_client, item):
    page = staff_client.get(reverse("admin:balances_plaiditem_changelist")).content.decode()
    assert "Chase" in page and "alice" in page and "Healthy" in page
    assert item.access_token not in page
    assert item.access_token_encrypted not in page


def test_change_page_shows_accounts_inline_and_no_token(staff_client, item):
    url = reverse("admin:balances_plaiditem_change", args=[item.pk])
    page = staff_client.get(url).content.decode()
    assert "Plaid Money Market" in page
    assert "access_token" not in page
    assert item.access_token not in page


def test_filters_and_search(staff_client, item):
    url = reverse("admin:balances_plaiditem_changelist")
    other = PlaidItemFactory(
        owner=UserFactory(username="bob"),
        institution_name="Tartan Bank",
        status=PlaidItem.Status.LOGIN_REQUIRED,
    )

    def listed(**params):
        return list(staff_client.get(url, params).context["cl"].result_list)

    assert listed(status__exact="login_required") == [other]
    assert listed(institution_name="Chase") == [item]
    assert listed(q="alice") == [item]
    assert listed(q="tartan") == [other]


def test_refresh_action_queues_items(
    staff_client, item, queued_refreshes, django_capture_on_commit_callbacks
):
    url = reverse("admin:balances_plaiditem_changelist")
    with django_capture_on_commit_callbacks(execute=True):
        response = staff_client.post(
            url, {"action": "refresh_balances_now", "_selected_action": [item.pk]}, follow=True
        )
    assert queued_refreshes.item_ids == [item.pk]
    assert "Queued a refresh of 1 item(s)." in response.content.decode()


def test_items_cannot_be_added_by_hand(staff_client):
    assert staff_client.get(reverse("admin:balances_plaiditem_add")).status_code == 403
