"""The admin's list pages, safe for any query string: a filter value no database can use
gets Django's usual "invalid lookup" answer (a redirect to `?e=1`), never a 500.

Django already turns a filter it cannot build into IncorrectLookupParameters; what it
leaves to the database, or lets escape, is caught here: a NUL character (PostgreSQL
refuses it in text), a date-hierarchy year, month or day past what a date can hold, and
any value the database rejects (DataError: a malformed regular expression, a number out
of range). The query runs in a savepoint, so a rejected one leaves the request's
transaction usable.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.views.main import SEARCH_VAR, ChangeList, ChangeListSearchForm
from django.db import DataError, router, transaction
from django.http import HttpRequest

# Longer searches are ignored with a message (each word adds a clause per search field).
MAX_SEARCH_LENGTH = 200


class BoundedSearchForm(ChangeListSearchForm):
    """The search box of a list page, at most MAX_SEARCH_LENGTH characters."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields[SEARCH_VAR] = forms.CharField(
            required=False, strip=False, max_length=MAX_SEARCH_LENGTH
        )


class SafeChangeList(ChangeList):
    """Django's ChangeList; filter values it cannot use raise IncorrectLookupParameters."""

    search_form_class = BoundedSearchForm

    def get_filters(self, request: HttpRequest) -> Any:
        for values in self.filter_params.values():
            if any("\x00" in value for value in values):
                raise IncorrectLookupParameters("A filter value contains a NUL character.")
        try:
            return super().get_filters(request)
        # Django catches ValueError only around building the first date of the
        # hierarchy: a year like 99999999999999999999 overflows, 9999 ends past the
        # last date.
        except (OverflowError, ValueError) as exc:
            raise IncorrectLookupParameters(exc) from exc

    def get_results(self, request: HttpRequest) -> None:
        try:
            with transaction.atomic(using=router.db_for_read(self.model)):
                super().get_results(request)
        except DataError as exc:
            raise IncorrectLookupParameters(exc) from exc
