"""The OpenAPI schema (`/api/v1/schema/`) is valid OpenAPI 3.1, describes every endpoint,
and every response of the API matches it (the docs page built from it: test_docs.py)."""

from __future__ import annotations

from typing import Any

import jsonschema
import pytest
import yaml
from drf_spectacular.validation import validate_schema

from balances.models import PlaidItem
from tests.balances.api.conftest import TokenClient

pytestmark = pytest.mark.django_db

PATHS = {
    "/api/v1/net-worth/": "get",
    "/api/v1/net-worth/history/": "get",
    "/api/v1/accounts/": "get",
    "/api/v1/accounts/{id}/": "get",
    "/api/v1/accounts/{id}/history/": "get",
    "/api/v1/connections/": "get",
    "/api/v1/connections/{id}/refresh/": "post",
}
# Accounts entered by hand: several methods on one path.
MANUAL_OPERATIONS = {
    ("/api/v1/manual-accounts/", "get"),
    ("/api/v1/manual-accounts/", "post"),
    ("/api/v1/manual-accounts/{id}/", "get"),
    ("/api/v1/manual-accounts/{id}/", "patch"),
    ("/api/v1/manual-accounts/{id}/", "delete"),
}


@pytest.fixture
def schema(api: TokenClient) -> dict[str, Any]:
    response = api.get("/api/v1/schema/")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/json")
    return response.json()


def test_the_schema_is_valid_openapi_and_lists_every_endpoint(schema: dict[str, Any]) -> None:
    validate_schema(schema)
    assert schema["openapi"].startswith("3.1")
    found = {(p, m) for p, ops in schema["paths"].items() for m in ops}
    assert found == set(PATHS.items()) | MANUAL_OPERATIONS
    assert schema["components"]["securitySchemes"]["tokenAuth"] == {
        "type": "http",
        "scheme": "bearer",
        "description": "A personal access token from Settings → API tokens, sent as "
        "`Authorization: Bearer <token>`.",
    }
    refresh = schema["paths"]["/api/v1/connections/{id}/refresh/"]["post"]
    assert {"202", "403", "404", "409", "429"} <= set(refresh["responses"])


def test_the_schema_is_also_yaml(api: TokenClient) -> None:
    response = api.get("/api/v1/schema/", {"format": "yaml"})
    assert response.status_code == 200
    validate_schema(yaml.safe_load(response.content))


def _validate(schema: dict[str, Any], path: str, method: str, status: int, body: Any) -> None:
    """Check `body` against the schema of `path`'s `status` response."""
    response = schema["paths"][path][method]["responses"][str(status)]
    body_schema = response["content"]["application/json"]["schema"]
    validator = jsonschema.Draft202012Validator({**body_schema, "components": schema["components"]})
    errors = [e.message for e in validator.iter_errors(body)]
    assert not errors, (path, status, errors)


def test_every_response_matches_the_schema(
    schema: dict[str, Any],
    api: TokenClient,
    make_client: Any,
    refreshed_user: Any,
    queued_refreshes: Any,
) -> None:
    item = PlaidItem.objects.get(owner=refreshed_user)
    account = item.accounts.order_by("pk")[0]
    urls = {
        "/api/v1/net-worth/": "/api/v1/net-worth/",
        "/api/v1/net-worth/history/": "/api/v1/net-worth/history/?range=all",
        "/api/v1/accounts/": "/api/v1/accounts/?type=credit&type=depository",
        "/api/v1/accounts/{id}/": f"/api/v1/accounts/{account.pk}/",
        "/api/v1/accounts/{id}/history/": f"/api/v1/accounts/{account.pk}/history/",
        "/api/v1/connections/": "/api/v1/connections/",
    }
    for path, url in urls.items():
        response = api.get(url)
        assert response.status_code == 200, url
        _validate(schema, path, "get", 200, response.json())
    # Errors too: bad input, missing objects, a read token writing.
    _validate(schema, "/api/v1/accounts/", "get", 400, api.get("/api/v1/accounts/?type=x").json())
    missing = api.get("/api/v1/accounts/0/")
    _validate(schema, "/api/v1/accounts/{id}/", "get", 404, missing.json())
    refresh = f"/api/v1/connections/{item.pk}/refresh/"
    path = "/api/v1/connections/{id}/refresh/"
    _validate(schema, path, "post", 403, api.post(refresh).json())
    writer = make_client(refreshed_user, scope="write")
    _validate(schema, path, "post", 202, writer.post(refresh).json())
