import re

import pytest
from django.urls import reverse
from kombu.exceptions import OperationalError

from balances import tasks
from balances.models import PlaidItem
from tests.factories import AccountFactory, PlaidItemFactory, UserFactory

pytestmark = pytest.mark.django_db


def text(response) -> str:
    return re.sub(r"\s+", " ", response.content.decode())


@pytest.mark.parametrize(("method", "name"), [("get", "dashboard"), ("post", "refresh")])
def test_login_required(client, method, name):
    response = getattr(client, method)(reverse(name))
    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))


def test_dashboard_shows_net_worth_and_accounts_grouped_by_type(client, refreshed_user):
    client.force_login(refreshed_user)
    page = text(client.get("/"))
    assert 'data-currency="USD">$44,110.00<' in page
    cash = page.index('id="heading-depository"')
    credit = page.index('id="heading-credit"')
    assert cash < credit
    assert page.index("Plaid Money Market") < credit < page.index("Plaid Credit Card")
    card_row = page[page.index('data-mask="3333"') :]
    card_row = card_row[: card_row.index("</tr>")]
    assert "$410.00" in card_row and "$2,000.00" in card_row and "21% used" in card_row
    cd_row = page[page.index('data-mask="2222"') :]
    cd_row = cd_row[: cd_row.index("</tr>")]
    assert '<td class="num available">—</td>' in cd_row
    assert "$1,000.00" in cd_row
    assert "cd · USD" in cd_row
    assert "Chase" in page


def test_dashboard_never_shows_another_users_data(client, refreshed_user):
    other = UserFactory()
    AccountFactory(
        item=PlaidItemFactory(owner=other, institution_name="Other Bank"), name="Secret Savings"
    )
    client.force_login(other)
    page = text(client.get("/"))
    assert "Plaid Checking" not in page and "$44,110.00" not in page
    assert "Secret Savings" in page
    client.force_login(refreshed_user)
    assert "Secret Savings" not in text(client.get("/"))


def test_empty_state_guides_a_new_user(client):
    client.force_login(UserFactory())
    assert "You have not linked a bank yet" in text(client.get("/"))


def test_item_errors_are_explained(client):
    item = PlaidItemFactory(
        status=PlaidItem.Status.LOGIN_REQUIRED, error_code="ITEM_LOGIN_REQUIRED"
    )
    client.force_login(item.owner)
    page = text(client.get("/"))
    assert "Needs re-login" in page
    assert "Your bank needs you to sign in again" in page


def test_access_token_never_reaches_the_page(client, refreshed_user):
    client.force_login(refreshed_user)
    token = PlaidItem.objects.get(owner=refreshed_user).access_token
    assert token not in client.get("/").content.decode()


def test_refresh_now_queues_the_users_items(
    client, monkeypatch, django_capture_on_commit_callbacks
):
    queued = []
    monkeypatch.setattr(tasks.refresh_item_balances, "delay", lambda pk, **kw: queued.append(pk))
    item = PlaidItemFactory()
    PlaidItemFactory()
    client.force_login(item.owner)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("refresh"), follow=True)
    assert queued == [item.pk]
    assert "Refreshing 1 connection." in text(response)


@pytest.mark.django_db(transaction=True)  # on_commit runs at once, as in a real request
def test_refresh_with_queue_down_says_so_instead_of_500(client, monkeypatch):
    def broker_down(pk, **kwargs):
        raise OperationalError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    monkeypatch.setattr(tasks.refresh_item_balances, "delay", broker_down)
    item = PlaidItemFactory()
    client.force_login(item.owner)
    response = client.post(reverse("refresh"), follow=True)
    assert response.status_code == 200
    assert "background service is not reachable" in text(response)


def test_refresh_requires_post_and_csrf(client):
    user = UserFactory()
    csrf_client = client.__class__(enforce_csrf_checks=True)
    csrf_client.force_login(user)
    assert csrf_client.post(reverse("refresh")).status_code == 403
    client.force_login(user)
    assert client.get(reverse("refresh")).status_code == 405


def test_login_page_and_login(client):
    UserFactory(username="alice")
    assert client.get(reverse("login")).status_code == 200
    response = client.post(
        reverse("login"), {"username": "alice", "password": "correct horse battery staple"}
    )
    assert response.status_code == 302
    assert response.url == reverse("dashboard")
