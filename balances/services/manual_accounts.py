"""Writes of the accounts and assets a user enters by hand: create, edit, re-value, delete.

Every write keeps the user's daily totals (NetWorthDay) right in the same transaction: an
account's dated values make a step function (a value counts from its day until the day of
its next value), and a write adds the difference between the old and the new function at
each day where either changes (`net_worth.net_worth_add`). `net_worth_rebuild` computes
the same totals from the values (selectors/history.py). Bad input raises ValidationError
with a message per field and saves nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import TypeVar

from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from balances.domain import currencies
from balances.models import DECIMAL_PLACES, MAX_DIGITS, ManualAccount, ManualValue
from balances.services import net_worth

MAX_NAME = 200
MAX_NOTE = 2000
# The largest value a column holds (MAX_DIGITS digits, DECIMAL_PLACES of them decimals).
MAX_VALUE = Decimal(10) ** (MAX_DIGITS - DECIMAL_PLACES)

Steps = list[tuple[date, net_worth.AccountState]]
T = TypeVar("T")


def _no_nul(text: str) -> str:
    if "\x00" in text:
        raise ValidationError("Null characters are not allowed.")
    return text


def clean_name(name: object) -> str:
    text = _no_nul(str(name or "").strip())
    if not text:
        raise ValidationError("Enter a name.")
    if len(text) > MAX_NAME:
        raise ValidationError(f"Use at most {MAX_NAME} characters.")
    return text


def clean_kind(kind: object) -> str:
    if kind not in ManualAccount.Kind.values:
        raise ValidationError("Choose asset or liability.")
    return str(kind)


def clean_category(category: object) -> str:
    if category not in ManualAccount.Category.values:
        choices = ", ".join(ManualAccount.Category.values)
        raise ValidationError(f"Unknown category: choose one of {choices}.")
    return str(category)


def clean_currency(currency: object, *, category: str | None) -> tuple[str, str]:
    """Return (ISO code, unofficial code), one of them empty: an ISO 4217 code, or a
    ticker for a crypto asset (BTC)."""
    code = str(currency or "").strip().upper()
    if currencies.is_official(code):
        return code, ""
    if category == ManualAccount.Category.CRYPTO and currencies.is_ticker(code):
        return "", code
    raise ValidationError(
        "Unknown currency: enter an ISO 4217 code such as USD or EUR (for a crypto "
        "asset, its ticker such as BTC)."
    )


def clean_value(value: object) -> Decimal:
    """Return `value` as a Decimal within the column's digits; never through a float."""
    if isinstance(value, float | bool):
        raise ValidationError("Enter the value as a decimal number in text, such as 1234.56.")
    try:
        amount = Decimal(str(value).strip().replace(",", "")) if value is not None else None
    except (InvalidOperation, ValueError):
        amount = None
    if amount is None or not amount.is_finite():
        raise ValidationError("Enter a number, such as 350000 or 1234.56.")
    if amount < 0:
        raise ValidationError("Enter a positive number (for a liability, the amount owed).")
    if amount >= MAX_VALUE:
        raise ValidationError("This number is too large.")
    exponent = amount.as_tuple().exponent
    if isinstance(exponent, int) and -exponent > DECIMAL_PLACES:
        raise ValidationError(f"Use at most {DECIMAL_PLACES} decimal places.")
    return amount


def clean_as_of(as_of: date | None) -> date:
    today = timezone.localdate(timezone=timezone.get_default_timezone())
    if as_of is None:
        return today
    if as_of > today:
        raise ValidationError("Enter today or a past date: a value cannot be in the future.")
    return as_of


def clean_note(note: object) -> str:
    text = _no_nul(str(note or "").strip())
    if len(text) > MAX_NOTE:
        raise ValidationError(f"Use at most {MAX_NOTE} characters.")
    return text


class _Checks:
    """Each field's cleaner run in turn; every field's error raised at once."""

    def __init__(self) -> None:
        self.problems: dict[str, list[str]] = {}

    def run(self, field: str, check: Callable[[], T], default: T) -> T:
        try:
            return check()
        except ValidationError as error:
            self.problems[field] = error.messages
            return default

    def raise_any(self) -> None:
        if self.problems:
            raise ValidationError(self.problems)


def _state(account: ManualAccount, value: Decimal) -> net_worth.AccountState:
    return net_worth.AccountState(
        account.currency, account.currency_is_official, account.is_liability, value
    )


def _steps(account: ManualAccount, values: list[tuple[date, Decimal]]) -> Steps:
    """Return the account's contribution as (first day, state) steps, from its values in
    entry order (of two values of one day, the last entered counts)."""
    by_day: dict[date, Decimal] = {}
    for day, value in values:
        by_day[day] = value
    return [(day, _state(account, by_day[day])) for day in sorted(by_day)]


def _values(account: ManualAccount) -> list[tuple[date, Decimal]]:
    return list(account.values.order_by("as_of", "entered_at", "pk").values_list("as_of", "value"))


def _at(steps: Steps, day: date) -> net_worth.AccountState | None:
    found = None
    for first, state in steps:
        if first > day:
            break
        found = state
    return found


def _retotal(user_id: int, old: Steps, new: Steps) -> None:
    """Add to the user's daily totals the change from steps `old` to steps `new`.

    At each day where either changes, add (new - old) there minus (new - old) the day
    before: `net_worth_add` carries each addition to every later day. Cost: O(values)
    calls of `net_worth_add`, each a few queries; a value's edit touches its own days only.
    """
    prev_old: net_worth.AccountState | None = None
    prev_new: net_worth.AccountState | None = None
    for day in sorted({d for d, _ in old} | {d for d, _ in new}):
        was, now = _at(old, day), _at(new, day)
        before = [s for s in (was, prev_new) if s is not None]
        after = [s for s in (now, prev_old) if s is not None]
        net_worth.net_worth_add(user_id=user_id, before=before, after=after, day=day)
        prev_old, prev_new = was, now


def _latest(account: ManualAccount) -> None:
    """Set the account's denormalised value to its latest value."""
    last = account.values.order_by("-as_of", "-entered_at", "-pk").values_list("as_of", "value")[:1]
    for as_of, value in last:
        account.value_as_of, account.value = as_of, value


def _lock(account: ManualAccount) -> ManualAccount:
    """Return `account` read again under a row lock: one writer per account at a time."""
    return ManualAccount.objects.select_for_update().get(pk=account.pk)


def manual_account_create(
    *,
    user: User,
    name: str,
    kind: str,
    category: str,
    currency: str,
    value: object,
    note: str = "",
    as_of: date | None = None,
) -> ManualAccount:
    """Create a manual account with its first value (as of `as_of`, default today) and
    count it in the user's totals from that day; raise ValidationError (nothing saved)."""
    checks = _Checks()
    name = checks.run("name", lambda: clean_name(name), "")
    kind = checks.run("kind", lambda: clean_kind(kind), "")
    category = checks.run("category", lambda: clean_category(category), "")
    iso, unofficial = checks.run(
        "currency", lambda: clean_currency(currency, category=category), ("", "")
    )
    amount = checks.run("value", lambda: clean_value(value), Decimal(0))
    day = checks.run(
        "as_of",
        lambda: clean_as_of(as_of),
        timezone.localdate(timezone=timezone.get_default_timezone()),
    )
    note = checks.run("note", lambda: clean_note(note), "")
    checks.raise_any()
    with transaction.atomic():
        account = ManualAccount.objects.create(
            owner=user,
            name=name,
            kind=kind,
            category=category,
            iso_currency_code=iso,
            unofficial_currency_code=unofficial,
            note=note,
            value=amount,
            value_as_of=day,
        )
        ManualValue.objects.create(account=account, value=amount, as_of=day)
        _retotal(user.pk, [], _steps(account, [(day, amount)]))
    return account


def manual_account_update(
    *,
    account: ManualAccount,
    name: str,
    kind: str,
    category: str,
    currency: str,
    note: str = "",
) -> ManualAccount:
    """Change a manual account's name, kind, category, currency and note (its values stay);
    its whole history moves to the new kind and currency in the daily totals."""
    checks = _Checks()
    name = checks.run("name", lambda: clean_name(name), "")
    kind = checks.run("kind", lambda: clean_kind(kind), "")
    category = checks.run("category", lambda: clean_category(category), "")
    iso, unofficial = checks.run(
        "currency", lambda: clean_currency(currency, category=category), ("", "")
    )
    note = checks.run("note", lambda: clean_note(note), "")
    checks.raise_any()
    with transaction.atomic():
        locked = _lock(account)
        values = _values(locked)
        old = _steps(locked, values)
        locked.name, locked.kind, locked.category, locked.note = name, kind, category, note
        locked.iso_currency_code, locked.unofficial_currency_code = iso, unofficial
        locked.save()
        _retotal(locked.owner_id, old, _steps(locked, values))
    return locked


def manual_account_revalue(
    *, account: ManualAccount, value: object, as_of: date | None = None
) -> ManualAccount:
    """Record a new value of the account as of `as_of` (default today; a past day changes
    the totals from that day until the account's next value); keep every earlier value."""
    checks = _Checks()
    amount = checks.run("value", lambda: clean_value(value), Decimal(0))
    day = checks.run(
        "as_of",
        lambda: clean_as_of(as_of),
        timezone.localdate(timezone=timezone.get_default_timezone()),
    )
    checks.raise_any()
    with transaction.atomic():
        locked = _lock(account)
        values = _values(locked)
        ManualValue.objects.create(account=locked, value=amount, as_of=day)
        _retotal(locked.owner_id, _steps(locked, values), _steps(locked, [*values, (day, amount)]))
        _latest(locked)
        locked.save(update_fields=["value", "value_as_of", "updated_at"])
    return locked


def manual_account_delete(*, account: ManualAccount) -> None:
    """Delete the account and its values, and take them out of every day's totals."""
    with transaction.atomic():
        locked = _lock(account)
        _retotal(locked.owner_id, _steps(locked, _values(locked)), [])
        locked.delete()
