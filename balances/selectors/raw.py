"""What the selectors that read with plain SQL share (written so where the ORM's cost to
build a query is several times the query's, on paths run after every refresh)."""

from __future__ import annotations

from datetime import UTC, datetime

from django.db import connection, models
from django.utils import timezone


def table(model: type[models.Model]) -> str:
    """Return the model's table name, quoted for the database."""
    return connection.ops.quote_name(model._meta.db_table)


def aware(value: datetime | None) -> datetime | None:
    """Return a stored time as an aware datetime (SQLite hands back naive UTC)."""
    if value is None or timezone.is_aware(value):
        return value
    return timezone.make_aware(value, UTC)
