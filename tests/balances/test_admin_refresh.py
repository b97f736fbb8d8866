"""Admin: freshness (last refresh, stale filter), warnings and the per-Item call log."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from balances.models import PlaidCall
from tests.factories import PlaidItemFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client):
    client.force_login(UserFactory(username="admin", is_staff=True, is_superuser=True))
    return client


def test_stale_filter_and_last_refresh(staff_client, settings):
    settings.BALANCE_STALE_AFTER = 3600
    now = timezone.now()
    fresh = PlaidItemFactory(institution_name="Fresh Bank", last_refreshed_at=now)
    stale = PlaidItemFactory(
        institution_name="Stale Bank", last_refreshed_at=now - timedelta(hours=2)
    )
    never = PlaidItemFactory(institution_name="Never Bank", last_refreshed_at=None)
    url = reverse("admin:balances_plaiditem_changelist")

    def listed(**params):
        response = staff_client.get(url, params)
        assert response.status_code == 200
        return sorted(i.pk for i in response.context["cl"].result_list)

    assert listed(freshness="stale") == sorted([stale.pk, never.pk])
    assert listed(freshness="fresh") == [fresh.pk]
    page = staff_client.get(url).content.decode()
    assert "Last refreshed at" in page and "Stale" in page


def test_item_page_shows_recent_calls_without_the_token(staff_client):
    item = PlaidItemFactory(warning_code="PENDING_EXPIRATION", expires_at=timezone.now())
    start = timezone.now() - timedelta(hours=1)
    for n in range(25):
        PlaidCall.objects.create(
            item=item,
            called_at=start + timedelta(minutes=n),
            endpoint="/accounts/balance/get",
            request_id=f"req-{n:02d}",
            error_code="INSTITUTION_DOWN" if n == 24 else "",
            duration_ms=120,
        )
    page = staff_client.get(reverse("admin:balances_plaiditem_change", args=[item.pk]))
    html = page.content.decode()
    assert "req-24" in html and "INSTITUTION_DOWN" in html and "120 ms" in html
    assert "req-05" in html and "req-04" not in html  # only the latest 20
    assert "PENDING_EXPIRATION" in html
    assert item.access_token not in html


def test_call_log_admin_is_read_only(staff_client):
    item = PlaidItemFactory()
    call = PlaidCall.objects.create(
        item=item, called_at=timezone.now(), endpoint="/accounts/get", request_id="req-x"
    )
    listing = staff_client.get(reverse("admin:balances_plaidcall_changelist"))
    assert "req-x" in listing.content.decode()
    assert staff_client.get(reverse("admin:balances_plaidcall_add")).status_code == 403
    change = staff_client.post(
        reverse("admin:balances_plaidcall_change", args=[call.pk]), {"endpoint": "/x"}
    )
    assert change.status_code == 403
    call.refresh_from_db()
    assert call.endpoint == "/accounts/get"
