"""`balances.api.throttling`: API_THROTTLE_RATE requests per token, then 429 with
Retry-After; each token (and each session) counts apart."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from balances.api.throttling import parse_rate
from balances.shared_state import api as shared_state

pytestmark = pytest.mark.django_db


def test_beyond_the_rate_a_token_gets_429_with_retry_after(
    make_client: Any, refreshed_user: Any, settings: Any
) -> None:
    settings.API_THROTTLE_RATE = "3/min"
    first, second = make_client(refreshed_user), make_client(refreshed_user)
    for _ in range(3):
        assert first.get("/api/v1/net-worth/").status_code == 200
    refused = first.get("/api/v1/accounts/")
    assert refused.status_code == 429
    assert 0 < int(refused["Retry-After"]) <= 60
    assert refused.json()["detail"].startswith("Request was throttled.")
    # Another token of the same user has its own count; so has the user's session.
    assert second.get("/api/v1/net-worth/").status_code == 200
    browser = Client()
    browser.force_login(refreshed_user)
    for _ in range(3):
        assert browser.get("/api/v1/net-worth/").status_code == 200
    assert browser.get("/api/v1/net-worth/").status_code == 429


def test_throttling_keys_hold_no_credential(make_client: Any, refreshed_user: Any) -> None:
    client = make_client(refreshed_user)
    client.get("/api/v1/net-worth/")
    browser = Client()
    browser.force_login(refreshed_user)
    browser.get("/api/v1/net-worth/")
    from django.conf import settings

    state = settings.THROTTLE_FILE_PATH.read_text()
    assert ":api:token:" in state and ":api:session:" in state  # not vacuous
    assert client.text not in state
    assert browser.session.session_key not in state


def test_without_the_shared_state_requests_go_through(
    make_client: Any, refreshed_user: Any, monkeypatch: Any, caplog: Any
) -> None:
    class Down:
        def take(self, *args: Any) -> float:
            raise shared_state.SharedStateUnavailable("down")

    monkeypatch.setattr(shared_state, "store", lambda: Down())
    assert make_client(refreshed_user).get("/api/v1/net-worth/").status_code == 200
    assert "not throttled" in caplog.text


@pytest.mark.parametrize(
    ("rate", "parsed"),
    [("120/min", (120, 60)), ("5/s", (5, 1)), (" 10 / hour ", (10, 3600)), ("1/day", (1, 86400))],
)
def test_parse_rate(rate: str, parsed: tuple[int, int]) -> None:
    assert parse_rate(rate) == parsed


@pytest.mark.parametrize("rate", ["", "0/min", "120", "120/week", "-1/min", "x/min"])
def test_parse_rate_refuses_what_is_not_a_rate(rate: str) -> None:
    with pytest.raises(ValueError, match="Not a rate"):
        parse_rate(rate)
