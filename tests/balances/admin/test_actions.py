"""Operator actions in the Items admin: clear the error and retry, remove at Plaid (after a
confirmation page); superusers only."""

import pytest
from django.test import Client
from django.utils import timezone

from balances.models import Account, PlaidItem
from tests.factories import AccountFactory, PlaidItemFactory, UserFactory

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/balances/plaiditem/"


def test_clear_error_and_retry(admin_client, queued_refreshes, django_capture_on_commit_callbacks):
    item = PlaidItemFactory(
        status=PlaidItem.Status.ERROR,
        error_code="INSTITUTION_DOWN",
        error_message="gave up after 5 retries",
        error_at=timezone.now(),
        warning_code="PENDING_EXPIRATION",
    )
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            CHANGELIST,
            {"action": "clear_error_and_retry", "_selected_action": [item.pk]},
            follow=True,
        )
    assert "Cleared the error of 1 item(s); queued 1 refresh(es)." in response.content.decode()
    item.refresh_from_db()
    assert (item.status, item.error_code, item.error_message, item.error_at) == (
        PlaidItem.Status.HEALTHY,
        "",
        "",
        None,
    )
    assert item.warning_code == "PENDING_EXPIRATION"  # only a re-login renews consent
    assert queued_refreshes.item_ids == [item.pk]


def test_remove_at_plaid_asks_first_then_removes(admin_client, fake_plaid):
    account = AccountFactory(item=PlaidItemFactory(institution_name="Houndstooth Bank"))
    item = account.item
    form = {"action": "remove_at_plaid", "_selected_action": [item.pk]}
    confirm = admin_client.post(CHANGELIST, form)
    assert confirm.status_code == 200
    page = confirm.content.decode()
    assert "Remove at Plaid and delete?" in page and "Houndstooth Bank" in page
    assert item.access_token not in page
    assert fake_plaid.removed == [] and PlaidItem.objects.filter(pk=item.pk).exists()

    done = admin_client.post(CHANGELIST, {**form, "post": "yes"}, follow=True)
    assert "Removed 1 item(s) at Plaid and here." in done.content.decode()
    assert fake_plaid.removed == [item.access_token]
    assert not PlaidItem.objects.filter(pk=item.pk).exists()
    assert not Account.objects.filter(pk=account.pk).exists()


def test_remove_at_plaid_keeps_the_item_when_plaid_fails(admin_client, fake_plaid):
    item = PlaidItemFactory()
    fake_plaid.fail_next("INTERNAL_SERVER_ERROR", retryable=True, status=500)
    response = admin_client.post(
        CHANGELIST,
        {"action": "remove_at_plaid", "_selected_action": [item.pk], "post": "yes"},
        follow=True,
    )
    assert "could not be reached" in response.content.decode()
    assert PlaidItem.objects.filter(pk=item.pk).exists()


@pytest.mark.parametrize(
    "action", ["refresh_balances_now", "clear_error_and_retry", "remove_at_plaid"]
)
def test_staff_are_offered_no_action_and_cannot_run_one(
    fake_plaid, queued_refreshes, django_capture_on_commit_callbacks, action
):
    """Staff look, superusers act: no action is offered to staff, and posting one anyway
    runs nothing (no billed refresh, no change, nothing removed at Plaid)."""
    item = PlaidItemFactory(status=PlaidItem.Status.ERROR, error_code="INSTITUTION_DOWN")
    healthy = PlaidItemFactory()
    staff = Client()
    staff.force_login(UserFactory(username="staff", is_staff=True, is_superuser=False))
    page = staff.get(CHANGELIST).content.decode()
    assert 'name="action"' not in page and action not in page
    with django_capture_on_commit_callbacks(execute=True):
        response = staff.post(
            CHANGELIST,
            {"action": action, "_selected_action": [item.pk, healthy.pk], "post": "yes"},
        )
    assert response.status_code < 500
    item.refresh_from_db()
    assert item.error_code == "INSTITUTION_DOWN"
    assert PlaidItem.objects.count() == 2
    assert fake_plaid.removed == [] and queued_refreshes.item_ids == []


def test_superusers_are_offered_every_action(admin_client):
    PlaidItemFactory()
    page = admin_client.get(CHANGELIST).content.decode()
    for action in ("refresh_balances_now", "clear_error_and_retry", "remove_at_plaid"):
        assert f'value="{action}"' in page


def test_refresh_balances_now_runs_for_superusers(
    admin_client, queued_refreshes, django_capture_on_commit_callbacks
):
    item = PlaidItemFactory()
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            CHANGELIST,
            {"action": "refresh_balances_now", "_selected_action": [item.pk]},
            follow=True,
        )
    assert "Queued a refresh of 1 item(s)." in response.content.decode()
    assert queued_refreshes.item_ids == [item.pk]


def test_no_admin_of_the_site_offers_staff_an_action(rf):
    """Every registered ModelAdmin, third-party ones included (auth, axes, django-otp),
    gives a staff member who is not a superuser no action, even with model permissions."""
    from django.contrib import admin
    from django.contrib.auth.models import Permission

    staff = UserFactory(username="staff", is_staff=True, is_superuser=False)
    staff.user_permissions.set(Permission.objects.all())
    staff = type(staff).objects.get(pk=staff.pk)  # drop the permission cache
    root = UserFactory(username="root", is_staff=True, is_superuser=True)
    offered_to_root = []
    for model, model_admin in admin.site._registry.items():
        request = rf.get("/admin/")
        request.user = staff
        assert model_admin.get_actions(request) == {}, model._meta.label
        request.user = root
        offered_to_root += list(model_admin.get_actions(request))
    assert "refresh_balances_now" in offered_to_root and "delete_selected" in offered_to_root
