"""Input of the web pages: forms, and GET parameters cleaned to known values."""

from __future__ import annotations

import json
import re
from typing import Any

from django import forms
from django.http import HttpRequest

from balances.domain import periods

# Plaid's public tokens: "public-<environment>-<uuid>".
PUBLIC_TOKEN_RE = re.compile(r"^public-[a-z]+-[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}$")
MAX_BODY_BYTES = 256 * 1024


def clean_range(value: str | None) -> str:
    """Return a known chart range key (unknown or missing values get the default)."""
    return value if value in periods.RANGES else periods.DEFAULT_RANGE


def clean_period(value: str | None) -> str:
    """Return a known change period key (unknown or missing values get the default)."""
    return value if value in periods.PERIODS else periods.DEFAULT_PERIOD


class MainCurrencyForm(forms.Form):
    main_currency = forms.ChoiceField(
        label="Main currency",
        help_text="Shown first wherever totals are per currency. Currencies are never "
        "converted or added together.",
    )

    def __init__(self, *args: Any, choices: list[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["main_currency"]
        if isinstance(field, forms.ChoiceField):
            field.choices = [(c, c) for c in choices]


def json_body(request: HttpRequest) -> dict[str, Any]:
    """Return the request's JSON object; raise ValueError with a message otherwise."""
    if len(request.body) > MAX_BODY_BYTES:
        raise ValueError("The request is too large.")
    if not request.body:
        return {}
    try:
        body = json.loads(request.body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError("The request is not valid JSON.") from exc
    if not isinstance(body, dict):
        raise ValueError("The request must be a JSON object.")
    return body
