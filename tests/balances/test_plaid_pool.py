"""The SDK keeps one keep-alive connection per worker thread (PLAID_CONNECTION_POOL_SIZE)."""

from __future__ import annotations

from balances.plaid import client as plaid_client


def test_connection_pool_size_follows_the_setting(settings):
    settings.PLAID_CLIENT_ID = "id"
    settings.PLAID_SECRET = "secret"
    settings.PLAID_HOST = "http://127.0.0.1:9/pool-size-test"  # a new client is built
    settings.PLAID_CONNECTION_POOL_SIZE = 17
    api = plaid_client.get_api()
    assert api.api_client.configuration.connection_pool_maxsize == 17
    assert api.api_client.rest_client.pool_manager.connection_pool_kw["maxsize"] == 17
