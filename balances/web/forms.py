"""Input of the web pages: forms, and GET parameters cleaned to known values."""

from __future__ import annotations

import re
from typing import Any

from django import forms

from balances.domain import periods
from balances.models import ApiToken
from balances.web.json_body import json_body

__all__ = [
    "PUBLIC_TOKEN_RE",
    "ApiTokenForm",
    "MainCurrencyForm",
    "clean_period",
    "clean_range",
    "json_body",
]

# Plaid's public tokens: "public-<environment>-<uuid>".
PUBLIC_TOKEN_RE = re.compile(r"^public-[a-z]+-[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}$")


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


class ApiTokenForm(forms.Form):
    EXPIRY_CHOICES = [
        ("", "Never"),
        ("7", "In 7 days"),
        ("30", "In 30 days"),
        ("90", "In 90 days"),
        ("365", "In 1 year"),
    ]

    name = forms.CharField(
        label="Name",
        max_length=100,
        help_text="What will use it, such as “Home Assistant” or “budget spreadsheet”.",
    )
    scope = forms.ChoiceField(
        label="Scope",
        choices=ApiToken.Scope.choices,
        initial=ApiToken.Scope.READ,
        widget=forms.RadioSelect,
        help_text="Read and write also lets it ask for a connection's refresh.",
    )
    expires_in_days = forms.TypedChoiceField(
        label="Expires",
        choices=EXPIRY_CHOICES,
        coerce=int,
        empty_value=None,
        required=False,
    )
