"""`balances.api.permissions`: a read token reads; writing needs a read-and-write token."""

from __future__ import annotations

from typing import Any

import pytest

pytestmark = pytest.mark.django_db


def test_a_read_token_on_a_write_endpoint_is_403_and_queues_nothing(
    make_client: Any, refreshed_user: Any, queued_refreshes: Any
) -> None:
    item = refreshed_user.plaid_items.get()
    response = make_client(refreshed_user).post(f"/api/v1/connections/{item.pk}/refresh/")
    assert response.status_code == 403
    assert response.json() == {
        "detail": "This token may only read: create a token with the read and write scope."
    }
    item.refresh_from_db()
    assert item.refresh_requested_at is None


def test_a_write_token_writes(make_client: Any, refreshed_user: Any, queued_refreshes: Any):
    item = refreshed_user.plaid_items.get()
    writer = make_client(refreshed_user, scope="write")
    assert writer.post(f"/api/v1/connections/{item.pk}/refresh/").status_code == 202
    assert writer.get("/api/v1/accounts/").status_code == 200  # and reads
