"""Input of the web pages: forms, and GET parameters cleaned to known values."""

from __future__ import annotations

import re
from typing import Any

from django import forms

from balances.domain import periods
from balances.models import ApiToken, ManualAccount
from balances.services import manual_accounts
from balances.web.json_body import json_body

__all__ = [
    "PUBLIC_TOKEN_RE",
    "ApiTokenForm",
    "MainCurrencyForm",
    "ManualAccountEditForm",
    "ManualAccountForm",
    "ManualValueForm",
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


class ManualValueForm(forms.Form):
    """A value of an account entered by hand, and the day it is of (default today)."""

    value = forms.CharField(
        label="Value",
        max_length=60,
        help_text="A number such as 350000 or 1234.56; for a liability, the amount owed.",
        widget=forms.TextInput(attrs={"inputmode": "decimal", "autocomplete": "off"}),
    )
    as_of = forms.DateField(
        label="Value on",
        required=False,
        help_text="Leave empty for today; a past date (the purchase price) counts from then.",
        widget=forms.DateInput(attrs={"type": "date"}),
    )

    def clean_value(self) -> Any:
        return manual_accounts.clean_value(self.cleaned_data["value"])

    def clean_as_of(self) -> Any:
        return manual_accounts.clean_as_of(self.cleaned_data["as_of"])


class ManualAccountEditForm(forms.Form):
    """An account entered by hand: what it is (its values are entered apart)."""

    name = forms.CharField(label="Name", max_length=manual_accounts.MAX_NAME)
    kind = forms.ChoiceField(
        label="Kind",
        choices=ManualAccount.Kind.choices,
        widget=forms.RadioSelect,
        help_text="An asset counts in what you own; a liability in what you owe.",
    )
    category = forms.ChoiceField(label="Category", choices=ManualAccount.Category.choices)
    currency = forms.CharField(
        label="Currency",
        max_length=10,
        help_text="An ISO 4217 code such as USD or EUR; for crypto, its ticker (BTC).",
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
    )
    note = forms.CharField(
        label="Note",
        required=False,
        max_length=manual_accounts.MAX_NOTE,
        widget=forms.Textarea(attrs={"rows": 3}),
    )

    def clean_name(self) -> Any:
        return manual_accounts.clean_name(self.cleaned_data["name"])

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if "currency" in cleaned:
            try:
                manual_accounts.clean_currency(
                    cleaned["currency"], category=cleaned.get("category")
                )
            except forms.ValidationError as error:
                self.add_error("currency", error)
        return cleaned


class ManualAccountForm(ManualAccountEditForm, ManualValueForm):
    """A new account entered by hand, with its first value."""

    field_order = ["name", "kind", "category", "currency", "value", "as_of", "note"]
