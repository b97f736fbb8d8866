from typing import Any

from django import forms
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.forms import AuthenticationForm
from django.core import validators


class TokenForm(forms.Form):
    """A six-digit code from an authenticator app."""

    token = forms.RegexField(
        label="Code from your authenticator app",
        regex=r"^\s*\d{6}\s*$",
        error_messages={"invalid": "Enter the 6-digit code your authenticator app shows."},
        widget=forms.TextInput(
            attrs={
                "autocomplete": "one-time-code",
                "inputmode": "numeric",
                "pattern": r"\s*\d{6}\s*",
            }
        ),
    )

    def __init__(self, *args: Any, autofocus: bool = True, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Where the code is what the page is for (setup, sign-in); not on a page where the
        # field is one action among others (the status page's "Turn off").
        self.fields["token"].widget.attrs["autofocus"] = autofocus

    def clean_token(self) -> str:
        return str(self.cleaned_data["token"]).strip()


class SecondFactorForm(TokenForm):
    """The authenticator's six digits, or one of the user's recovery codes."""

    token = forms.RegexField(
        label="Code from your authenticator app, or a recovery code",
        # Recovery codes: 8 letters/digits of base32 (a-z, 2-7), shown as "abcd-efgh".
        regex=r"^\s*(\d{6}|[A-Za-z2-7]{4}[\s-]?[A-Za-z2-7]{4})\s*$",
        error_messages={
            "invalid": "Enter the 6-digit code your authenticator app shows, or a recovery "
            "code such as abcd-efgh."
        },
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code"}),
    )


class _UsernameLengthChecked(forms.Form):
    """Check the username's length: Django's login forms set `max_length` after building
    the field, so no validator checks it, and a longer username reached authenticate()
    and django-axes, whose record of the attempt (255 characters) overflowed on
    PostgreSQL. Now such a login is a form error before anything is looked up or stored."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["username"]
        if isinstance(field, forms.CharField) and field.max_length is not None:
            field.validators.append(validators.MaxLengthValidator(field.max_length))


class LoginForm(_UsernameLengthChecked, AuthenticationForm):
    """The sign-in form (/accounts/login/)."""


class AdminLoginForm(_UsernameLengthChecked, AdminAuthenticationForm):
    """The admin's sign-in form (/admin/login/)."""
