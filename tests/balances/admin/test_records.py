"""The admin of an Item's records: the Plaid call log is read-only."""

import pytest
from django.urls import reverse
from django.utils import timezone

from balances.models import PlaidCall
from tests.factories import PlaidItemFactory

pytestmark = pytest.mark.django_db


def test_call_log_admin_is_read_only(admin_client):
    item = PlaidItemFactory()
    call = PlaidCall.objects.create(
        item=item, called_at=timezone.now(), endpoint="/accounts/get", request_id="req-x"
    )
    listing = admin_client.get(reverse("admin:balances_plaidcall_changelist"))
    assert "req-x" in listing.content.decode()
    assert admin_client.get(reverse("admin:balances_plaidcall_add")).status_code == 403
    change = admin_client.post(
        reverse("admin:balances_plaidcall_change", args=[call.pk]), {"endpoint": "/x"}
    )
    assert change.status_code == 403
    call.refresh_from_db()
    assert call.endpoint == "/accounts/get"
