"""Input of the web pages: forms, and GET parameters cleaned to known values."""

from __future__ import annotations

import re
from typing import Any

from django import forms

from balances.domain import periods
from balances.models import Account, AlertRule, AlertSettings, ApiToken, ManualAccount
from balances.services import manual_accounts
from balances.web.json_body import json_body

__all__ = [
    "PUBLIC_TOKEN_RE",
    "AlertChannelForm",
    "AlertChoicesForm",
    "AlertRuleForm",
    "ApiTokenForm",
    "MainCurrencyForm",
    "ManualAccountEditForm",
    "ManualAccountForm",
    "ManualValueForm",
    "clean_period",
    "clean_range",
    "clean_view",
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


# GET `view`: "mine" (the default: the user's own accounts) or "household" (theirs and
# those shared with them).
HOUSEHOLD_VIEW = "household"


def clean_view(value: str | None) -> bool:
    """Return whether GET `view` asks for the household view (anything else: mine)."""
    return value == HOUSEHOLD_VIEW


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


class TimeZoneForm(forms.Form):
    time_zone = forms.ChoiceField(
        label="Time zone",
        help_text="Times on every page, in messages, exports and the admin are shown in it.",
    )

    def __init__(self, *args: Any, choices: tuple[str, ...], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["time_zone"]
        if isinstance(field, forms.ChoiceField):
            field.choices = [(z, z.replace("_", " ")) for z in choices]


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


class AlertRuleForm(forms.Form):
    """A new alert rule. Shape only; the service checks the rest (the account is the
    user's, the currency is the account's)."""

    kind = forms.ChoiceField(label="Alert me when", choices=AlertRule.Kind.choices)
    scope = forms.ChoiceField(label="For", choices=AlertRule.Scope.choices)
    account = forms.TypedChoiceField(label="Account", coerce=int, required=False, empty_value=None)
    account_type = forms.ChoiceField(
        label="Type of account", required=False, choices=[("", "—"), *Account.Type.choices]
    )
    balance = forms.ChoiceField(
        label="Balance", choices=AlertRule.Balance.choices, initial=AlertRule.Balance.AVAILABLE
    )
    threshold = forms.DecimalField(
        label="Amount or percentage",
        max_digits=20,
        decimal_places=4,
        help_text="An amount for “below” and “fell by an amount”; a percentage otherwise.",
    )
    currency = forms.CharField(
        label="Currency of the amount",
        required=False,
        max_length=20,
        help_text="Blank: the account's currency. Not used for percentages.",
    )
    cooldown_hours = forms.IntegerField(
        label="Stay quiet after an alert for (hours)", initial=24, min_value=0, max_value=8760
    )

    def __init__(self, *args: Any, accounts: list[tuple[int, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["account"]
        if isinstance(field, forms.ChoiceField):
            field.choices = [("", "—"), *accounts]
            # An id that is not among the user's accounts gets the service's error, not
            # Django's "not one of the available choices".
            field.valid_value = lambda value: True  # type: ignore[method-assign]


class AlertChoicesForm(forms.ModelForm):
    class Meta:
        model = AlertSettings
        fields = ["login_required", "revoked", "expiring", "new_accounts", "not_refreshed", "email"]


class AlertChannelForm(forms.Form):
    name = forms.CharField(label="Name", max_length=100, required=False)
    url = forms.CharField(
        label="Apprise URL",
        max_length=2000,
        widget=forms.PasswordInput(render_value=False),
        help_text="e.g. ntfys://ntfy.sh/my-topic, tgram://bottoken/chatid, "
        "gotify://host/token. Stored encrypted; never shown again.",
    )
