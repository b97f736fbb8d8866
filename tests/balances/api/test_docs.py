"""The API's reference page (`/api/v1/docs/`): built on the server from the same OpenAPI
schema as `/api/v1/schema/`, every operation and schema on it, every description escaped,
nothing inline and nothing from another host."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.test import Client

from balances.api import docs

pytestmark = pytest.mark.django_db


@pytest.fixture
def schema(refreshed_user: Any) -> dict[str, Any]:
    client = Client()
    client.force_login(refreshed_user)
    response = client.get("/api/v1/schema/")
    assert response.status_code == 200
    return response.json()  # type: ignore[no-any-return]


@pytest.fixture
def page(refreshed_user: Any) -> Any:
    client = Client()
    client.force_login(refreshed_user)
    return client.get("/api/v1/docs/")


def test_the_page_lists_every_operation_of_the_schema_with_its_responses(
    schema: dict[str, Any], page: Any
) -> None:
    assert page.status_code == 200
    assert page["Cache-Control"] == "private, no-store"
    html = page.content.decode()
    operations = [
        (method, path, spec)
        for path, item in schema["paths"].items()
        for method, spec in item.items()
    ]
    assert len(operations) >= 12  # the read API and the manual accounts' writes
    for method, path, spec in operations:
        heading = re.search(
            rf'<h3 id="{spec["operationId"]}">\s*<span class="api-method">{method.upper()}'
            rf'</span> <code class="api-path">{re.escape(path)}</code>',
            html,
        )
        assert heading, (method, path)
        section = html[heading.end() : html.find("</article>", heading.end())]
        for status in spec["responses"]:
            assert f'<th scope="row">{status}</th>' in section, (method, path, status)
        for parameter in spec.get("parameters", ()):
            assert f"<code>{parameter['name']} ({parameter['in']})</code>" in section
    # Every named schema has its section, and every link to one lands on a section.
    for name in schema["components"]["schemas"]:
        assert f'id="schema-{name}"' in html, name
    for target in re.findall(r'href="#([^"]+)"', html):
        assert f'id="{target}"' in html, target
    assert 'Request body: <a href="#schema-ManualAccountWriteRequest">' in html
    assert 'href="/api/v1/schema/"' in html and 'href="/api/v1/schema/?format=yaml"' in html


def test_the_page_keeps_the_csp_strict_and_loads_nothing_from_elsewhere(page: Any) -> None:
    html = page.content.decode()
    assert "<style" not in html and " style=" not in html
    assert re.findall(r"<script[^>]*>", html) == [
        '<script src="/static/js/menu.js" defer>'
    ]  # the app's own menu script, as on every page; no Swagger UI any more
    assert "swagger" not in html.lower()
    # The only absolute URLs are the curl examples' (this server's own address).
    assert set(re.findall(r"https?://[^/\s\"<]+", html)) == {"http://testserver"}


def test_descriptions_are_escaped_and_code_spans_kept() -> None:
    assert docs.prose("Send `Authorization: Bearer <token>`.\n* `a` - a") == (
        "Send <code>Authorization: Bearer &lt;token&gt;</code>.<br>* <code>a</code> - a"
    )
    assert docs.prose("<script>alert(1)</script>") == "&lt;script&gt;alert(1)&lt;/script&gt;"


@pytest.mark.parametrize(
    ("schema", "label"),
    [
        ({"$ref": "#/components/schemas/Account"}, '<a href="#schema-Account">Account</a>'),
        ({"type": ["string", "null"], "format": "date-time"}, "string or null (date-time)"),
        (
            {"type": "array", "items": {"$ref": "#/components/schemas/Point"}},
            'array of <a href="#schema-Point">Point</a>',
        ),
        (
            {"type": "string", "enum": ["plaid", "<b>"]},
            "string: one of <code>plaid</code>, <code>&lt;b&gt;</code>",
        ),
        ({"oneOf": [{"type": "integer"}, {"type": "string"}]}, "integer or string"),
        (
            {"allOf": [{"$ref": "#/components/schemas/KindEnum"}]},
            '<a href="#schema-KindEnum">KindEnum</a>',
        ),
        ({}, "any"),
    ],
)
def test_type_labels(schema: dict[str, Any], label: str) -> None:
    assert docs.type_label(schema) == label


def test_anonymous_visitors_of_the_docs_page_are_sent_to_log_in() -> None:
    response = Client().get("/api/v1/docs/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_only_get_and_head_are_answered(refreshed_user: Any) -> None:
    client = Client()
    client.force_login(refreshed_user)
    assert client.head("/api/v1/docs/").status_code == 200
    assert client.post("/api/v1/docs/").status_code == 405
