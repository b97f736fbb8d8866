"""Operator commands: item_refresh, item_clear_error, item_remove, item_list (and the Item
argument they share)."""

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from balances.models import Account, PlaidItem
from tests.factories import AccountFactory, PlaidItemFactory, UserFactory

pytestmark = pytest.mark.django_db


def run(*args):
    out = StringIO()
    call_command(*args, stdout=out, stderr=StringIO())
    return out.getvalue()


@pytest.fixture
def run_committed(django_capture_on_commit_callbacks):
    """Run a command and its on-commit callbacks (where tasks are published)."""

    def go(*args):
        with django_capture_on_commit_callbacks(execute=True):
            return run(*args)

    return go


def test_item_refresh_queues_by_pk_or_plaid_item_id(queued_refreshes, run_committed):
    item = PlaidItemFactory(
        institution_name="Chase", plaid_item_id="Ed6bjNrDLJfGvZWwnkQlfxwoNz54B5C97ejBr"
    )
    assert "Queued a refresh of Chase" in run_committed("item_refresh", item.plaid_item_id)
    assert queued_refreshes.item_ids == [item.pk]
    assert "already queued or running" in run("item_refresh", str(item.pk))
    assert queued_refreshes.item_ids == [item.pk]


def test_item_refresh_sync_calls_plaid_now(fake_plaid):
    item = PlaidItemFactory()
    fake_plaid.add_item(item.access_token)
    out = run("item_refresh", str(item.pk), "--sync")
    assert "5 account(s), 5 snapshot(s)" in out
    assert Account.objects.filter(item=item).count() == 5
    fake_plaid.fail_next("ITEM_LOGIN_REQUIRED")
    with pytest.raises(CommandError, match="ITEM_LOGIN_REQUIRED"):
        run("item_refresh", str(item.pk), "--sync")


def test_item_refresh_refuses_unknown_and_inactive_items(queued_refreshes):
    with pytest.raises(CommandError, match="No Item has the id or Plaid item_id 'nope'"):
        run("item_refresh", "nope")
    item = PlaidItemFactory(status=PlaidItem.Status.LOGIN_REQUIRED)
    with pytest.raises(CommandError, match="needs re-login"):
        run("item_refresh", str(item.pk))
    assert queued_refreshes.item_ids == []


def test_item_clear_error_marks_healthy_and_retries(queued_refreshes, run_committed):
    item = PlaidItemFactory(
        status=PlaidItem.Status.LOGIN_REQUIRED,
        error_code="ITEM_LOGIN_REQUIRED",
        error_message="login changed",
        error_at=timezone.now(),
    )
    out = run_committed("item_clear_error", item.plaid_item_id)
    assert "Cleared ITEM_LOGIN_REQUIRED" in out and "queued a refresh" in out
    item.refresh_from_db()
    assert (item.status, item.error_code, item.error_at) == (PlaidItem.Status.HEALTHY, "", None)
    assert queued_refreshes.item_ids == [item.pk]


def test_item_remove_needs_yes_then_removes_at_plaid(fake_plaid):
    account = AccountFactory()
    item = account.item
    with pytest.raises(CommandError, match="Nothing was changed"):
        run("item_remove", str(item.pk))
    assert PlaidItem.objects.filter(pk=item.pk).exists() and fake_plaid.removed == []

    fake_plaid.fail_next("INTERNAL_SERVER_ERROR", retryable=True, status=500)
    with pytest.raises(CommandError, match="could not be reached"):
        run("item_remove", str(item.pk), "--yes")
    assert PlaidItem.objects.filter(pk=item.pk).exists()

    assert "deleted it here" in run("item_remove", item.plaid_item_id, "--yes")
    assert fake_plaid.removed == [item.access_token]
    assert not PlaidItem.objects.filter(pk=item.pk).exists()
    assert not Account.objects.filter(pk=account.pk).exists()


def test_item_list_filters(settings):
    settings.BALANCE_STALE_AFTER = 3600
    now = timezone.now()
    owner = UserFactory(username="lister")
    fresh = PlaidItemFactory(owner=owner, last_refreshed_at=now, institution_name="Fresh")
    stale = PlaidItemFactory(owner=owner, last_refreshed_at=now - timedelta(hours=3))
    erroring = PlaidItemFactory(
        owner=owner, last_refreshed_at=now, status=PlaidItem.Status.ERROR, error_code="X"
    )
    relogin = PlaidItemFactory(
        owner=owner, last_refreshed_at=now, status=PlaidItem.Status.LOGIN_REQUIRED
    )

    def ids(*flags):
        lines = run("item_list", *flags).splitlines()
        assert lines[-1] == f"{len(lines) - 1} Item(s)."
        return sorted(int(line.split("\t")[0]) for line in lines[:-1])

    assert ids() == sorted([fresh.pk, stale.pk, erroring.pk, relogin.pk])
    assert ids("--stale") == [stale.pk]
    assert ids("--erroring") == [erroring.pk]
    assert ids("--login-required") == [relogin.pk]
    assert ids("--stale", "--erroring") == sorted([stale.pk, erroring.pk])
    out = run("item_list", "--erroring")
    assert "lister" in out and "error X" in out
    assert erroring.access_token not in out
