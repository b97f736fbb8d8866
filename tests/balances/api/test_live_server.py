"""The API over a real socket (Django's live server, urllib3): a script's view of it."""

from __future__ import annotations

import json
from typing import Any

import pytest
import urllib3

from balances.services import api_tokens

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_script_reads_its_net_worth_with_a_token(live_server: Any, refreshed_user: Any) -> None:
    _token, text = api_tokens.api_token_create(user=refreshed_user, name="script")
    http = urllib3.PoolManager(timeout=10, retries=False)
    url = f"{live_server.url}/api/v1/net-worth/"
    reply = http.request("GET", url, headers={"Authorization": f"Bearer {text}"})
    assert reply.status == 200
    assert reply.headers["Content-Type"] == "application/json"
    usd = json.loads(reply.data)["totals"][0]
    assert (usd["currency"], usd["net_worth"]) == ("USD", "44110.00")

    refused = http.request("GET", url, headers={"Authorization": "Bearer bal_wrong"})
    assert refused.status == 401 and json.loads(refused.data) == {"detail": "Invalid token."}
    assert refused.headers["WWW-Authenticate"] == 'Bearer realm="api"'

    schema = http.request(
        "GET", f"{live_server.url}/api/v1/schema/", headers={"Authorization": f"Bearer {text}"}
    )
    assert schema.status == 200 and json.loads(schema.data)["openapi"].startswith("3.1")
