"""`/api/v1/docs/`: the API's reference for people, rendered on the server from the same
OpenAPI schema as `/api/v1/schema/`.

Plain HTML in the app's own layout: no third-party script, nothing inline, so the page keeps
the strict CSP and the app's accessibility (WCAG 2.2 AA in light and dark mode, checked by
axe in tests/e2e/test_polish_browser.py). Swagger UI was dropped for it: its own markup nests
interactive controls and misses contrast and target sizes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.html import escape, format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe
from django.views.decorators.http import require_safe
from drf_spectacular.settings import spectacular_settings

METHODS = ("get", "post", "put", "patch", "delete")
_REF = "#/components/schemas/"
_CODE = re.compile(r"`([^`\n]+)`")


def prose(text: str) -> SafeString:
    """Return `text` (a schema description) as HTML: escaped, `code` spans as <code>,
    list lines ("* ...") and paragraphs kept as line breaks."""
    escaped = _CODE.sub(r"<code>\1</code>", str(escape(text.strip())))
    return mark_safe(escaped.replace("\n", "<br>"))  # noqa: S308 (escaped above)


def schema_anchor(name: str) -> str:
    """Return the id of schema `name`'s section on the page."""
    return f"schema-{name}"


def type_label(schema: dict[str, Any]) -> SafeString:
    """Return a short HTML label for a JSON schema: its type(s), format, enum values, and a
    link to a named schema's section for a `$ref`."""
    if "$ref" in schema:
        name = schema["$ref"].removeprefix(_REF)
        return format_html('<a href="#{}">{}</a>', schema_anchor(name), name)
    for combined, joiner in (("allOf", " and "), ("oneOf", " or "), ("anyOf", " or ")):
        if combined in schema:
            return mark_safe(joiner.join(type_label(part) for part in schema[combined]))  # noqa: S308
    kinds = schema.get("type", "")
    kinds = list(kinds) if isinstance(kinds, list) else [kinds] if kinds else []
    parts: list[str] = []
    for kind in kinds:
        if kind == "array" and isinstance(schema.get("items"), dict):
            parts.append(format_html("array of {}", type_label(schema["items"])))
        else:
            parts.append(str(escape(kind)))
    label = " or ".join(parts) or "any"
    if "format" in schema:
        label += str(format_html(" ({})", schema["format"]))
    if "enum" in schema:
        values = format_html_join(", ", "<code>{}</code>", ((v,) for v in schema["enum"]))
        label += str(format_html(": one of {}", values))
    return mark_safe(label)  # noqa: S308 (every piece is escaped above)


@dataclass(frozen=True)
class Field:
    name: str
    type: SafeString
    required: bool
    description: SafeString


@dataclass(frozen=True)
class Body:
    status: str
    description: SafeString
    content_types: tuple[str, ...]
    type: SafeString | None


@dataclass(frozen=True)
class Operation:
    anchor: str
    method: str
    path: str
    summary: str
    description: SafeString
    parameters: tuple[Field, ...]
    request_body: Body | None
    responses: tuple[Body, ...]
    writes: bool


@dataclass(frozen=True)
class Group:
    name: str
    anchor: str
    operations: tuple[Operation, ...]


@dataclass(frozen=True)
class Schema:
    name: str
    anchor: str
    description: SafeString
    type: SafeString
    fields: tuple[Field, ...]


def _fields(schema: dict[str, Any]) -> tuple[Field, ...]:
    required = set(schema.get("required", ()))
    return tuple(
        Field(
            name=name,
            type=type_label(prop),
            required=name in required,
            description=prose(prop.get("description", "")),
        )
        for name, prop in schema.get("properties", {}).items()
    )


def _body(status: str, spec: dict[str, Any]) -> Body:
    content = spec.get("content", {})
    types = tuple(content)
    schema = content[types[0]].get("schema") if types else None
    return Body(
        status=status,
        description=prose(spec.get("description", "")),
        content_types=types,
        type=type_label(schema) if schema else None,
    )


def _operation(path: str, method: str, spec: dict[str, Any]) -> Operation:
    parameters = tuple(
        Field(
            name=f"{p['name']} ({p['in']})",
            type=type_label(p.get("schema", {})),
            required=bool(p.get("required")),
            description=prose(p.get("description", "")),
        )
        for p in spec.get("parameters", ())
    )
    body = spec.get("requestBody")
    responses = sorted(spec.get("responses", {}).items(), key=lambda item: item[0])
    return Operation(
        anchor=spec.get("operationId") or f"{method}-{path}",
        method=method.upper(),
        path=path,
        summary=spec.get("summary", ""),
        description=prose(spec.get("description", "")),
        parameters=parameters,
        request_body=_body("", body) if body else None,
        responses=tuple(_body(status, response) for status, response in responses),
        writes=method != "get",
    )


def api_reference(schema: dict[str, Any]) -> dict[str, Any]:
    """Return the page's content from an OpenAPI 3 `schema`: its title and description,
    the operations grouped by their first tag (in the schema's order), and the named
    schemas their bodies refer to."""
    groups: dict[str, list[Operation]] = {}
    for path, item in schema.get("paths", {}).items():
        for method in METHODS:
            if method in item:
                spec = item[method]
                tag = (spec.get("tags") or ["other"])[0]
                groups.setdefault(tag, []).append(_operation(path, method, spec))
    components = schema.get("components", {})
    return {
        "info": schema.get("info", {}),
        "description": prose(schema.get("info", {}).get("description", "")),
        "groups": [
            Group(name=name, anchor=f"tag-{name}", operations=tuple(ops))
            for name, ops in groups.items()
        ],
        "schemas": [
            Schema(
                name=name,
                anchor=schema_anchor(name),
                description=prose(spec.get("description", "")),
                type=type_label({k: v for k, v in spec.items() if k != "properties"}),
                fields=_fields(spec),
            )
            for name, spec in sorted(components.get("schemas", {}).items())
        ],
        "security": [
            (name, prose(spec.get("description", "")))
            for name, spec in components.get("securitySchemes", {}).items()
        ],
    }


def _schema() -> dict[str, Any]:
    # The same generator as /api/v1/schema/: a few tens of ms per view (it walks the URL
    # conf and the serializers); the page is visited rarely, so it is not cached.
    generator = spectacular_settings.DEFAULT_GENERATOR_CLASS()
    return generator.get_schema(request=None, public=True)


@require_safe
@login_required
def api_docs(request: HttpRequest) -> HttpResponse:
    """Render the API's reference for the signed-in user (anonymous visitors log in first)."""
    context = api_reference(_schema())
    context["schema_url"] = reverse("api_schema")
    context["base_url"] = request.build_absolute_uri("/").rstrip("/")
    response = render(request, "balances/api_docs.html", context)
    response["Cache-Control"] = "private, no-store"
    return response
