"""The Items admin's list filters: freshness, and what needs an operator's attention."""

import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from balances.models import PlaidItem
from tests.factories import PlaidItemFactory

pytestmark = pytest.mark.django_db


def listed(client, **params):
    response = client.get(reverse("admin:balances_plaiditem_changelist"), params)
    assert response.status_code == 200
    return sorted(i.pk for i in response.context["cl"].result_list)


def test_stale_filter_and_last_refresh(admin_client, settings):
    settings.BALANCE_STALE_AFTER = 3600
    now = timezone.now()
    fresh = PlaidItemFactory(institution_name="Fresh Bank", last_refreshed_at=now)
    stale = PlaidItemFactory(
        institution_name="Stale Bank", last_refreshed_at=now - timedelta(hours=2)
    )
    never = PlaidItemFactory(institution_name="Never Bank", last_refreshed_at=None)
    assert listed(admin_client, freshness="stale") == sorted([stale.pk, never.pk])
    assert listed(admin_client, freshness="fresh") == [fresh.pk]
    page = admin_client.get(reverse("admin:balances_plaiditem_changelist")).content.decode()
    assert "Last refreshed" in page and "never" in page
    # The column says "Fresh": its ✔ for the fresh Item, ✖ for the stale and the never
    # refreshed ones (it was "Stale", whose ✖ meant fresh).
    assert ">Fresh<" in page and ">Stale<" not in page
    rows = re.findall(r"<tr>.*?</tr>", page, re.S)
    icons = {
        bank: re.search(r"icon-(yes|no)\.svg", row).group(1)
        for row in rows
        for bank in ("Fresh Bank", "Stale Bank", "Never Bank")
        if bank in row
    }
    assert icons == {"Fresh Bank": "yes", "Stale Bank": "no", "Never Bank": "no"}


def test_the_warning_code_filter_lists_each_code_and_no_blank_entry(admin_client):
    warned = PlaidItemFactory(warning_code="PENDING_EXPIRATION")
    quiet = PlaidItemFactory(warning_code="")
    response = admin_client.get(reverse("admin:balances_plaiditem_changelist"))
    (spec,) = [s for s in response.context["cl"].filter_specs if s.title == "warning code"]
    choices = [c["display"] for c in spec.choices(response.context["cl"])]
    assert choices == ["All", "No warning", "PENDING_EXPIRATION"]  # no blank entry
    assert listed(admin_client, warning="none") == [quiet.pk]
    assert listed(admin_client, warning="PENDING_EXPIRATION") == [warned.pk]
    assert listed(admin_client, warning="NOPE") == []


def test_attention_filters(admin_client, settings):
    settings.BALANCE_STALE_AFTER = 3600
    now = timezone.now()
    healthy = PlaidItemFactory(last_refreshed_at=now)
    erroring = PlaidItemFactory(last_refreshed_at=now, status=PlaidItem.Status.ERROR)
    old_balances = PlaidItemFactory(
        last_refreshed_at=now, error_code="LAST_UPDATED_DATETIME_OUT_OF_RANGE"
    )
    relogin = PlaidItemFactory(last_refreshed_at=now, status=PlaidItem.Status.LOGIN_REQUIRED)
    expiring = PlaidItemFactory(last_refreshed_at=now, warning_code="PENDING_DISCONNECT")
    stale = PlaidItemFactory(last_refreshed_at=now - timedelta(hours=2))
    assert listed(admin_client, attention="erroring") == sorted([erroring.pk, old_balances.pk])
    assert listed(admin_client, attention="login") == sorted([relogin.pk, expiring.pk])
    assert listed(admin_client, freshness="stale") == [stale.pk]
    assert healthy.pk in listed(admin_client)
