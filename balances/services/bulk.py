"""Write only what changed: a cheaper `bulk_update` for the refresh's hot path.

Django's `bulk_update(rows, fields)` builds one `CASE WHEN pk = … THEN …` per row and
field; for 5 accounts and 13 fields that expression tree cost ~7 ms of CPU per refresh,
more than the Plaid call (bench/refresh.py's profile). Most refreshes change a few
balances and the timestamps, which every row shares.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

from django.db import connections, models, router

M = TypeVar("M", bound=models.Model)


def values_of(obj: models.Model, fields: Sequence[str]) -> tuple[Any, ...]:
    """Return `obj`'s values of `fields`, to pass to `update_changed` later as `before`."""
    return tuple(getattr(obj, f) for f in fields)


def update_changed(
    model: type[M],
    rows: Sequence[M],
    fields: Sequence[str],
    before: Mapping[Any, tuple[Any, ...]],
) -> int:
    """Save `fields` of `rows` (saved objects) where they differ from `before[pk]`.

    A field no row changed is not written. When every changed field's new value is the
    same in every row (a timestamp, `closed_at`), one plain UPDATE sets them over the rows
    that changed; otherwise one `executemany` writes every changed field of each row that
    changed (a field it did not change gets its own value again: the row is rewritten
    anyway). Returns the number of statements run (0 or 1). Cost: Python work
    proportional to the changed cells, one round trip.
    """
    changed: dict[str, list[M]] = {}
    for row in rows:
        old = before.get(row.pk)
        for i, field in enumerate(fields):
            if old is None or getattr(row, field) != old[i]:
                changed.setdefault(field, []).append(row)
    if not changed:
        return 0
    targets = {row.pk: row for changed_rows in changed.values() for row in changed_rows}
    uniform: dict[str, Any] = {}
    for field, changed_rows in changed.items():
        if len({_key(getattr(row, field)) for row in rows}) == 1:
            uniform[field] = getattr(changed_rows[0], field)
    if len(uniform) == len(changed):
        _update_uniform(model, sorted(targets), uniform)
    else:
        _update_rows(model, [targets[pk] for pk in sorted(targets)], list(changed))
    return 1


def _columns(model: type[models.Model], fields: Sequence[str]) -> list[models.Field[Any, Any]]:
    """Return the concrete fields of `model` named `fields` (every one must be)."""
    columns = [field for field in model._meta.concrete_fields if field.name in fields]
    if len(columns) != len(fields) or model._meta.pk is None:
        raise ValueError(f"not concrete fields of {model._meta.label}: {fields}")
    return columns


def _update_uniform(model: type[M], pks: Sequence[Any], values: Mapping[str, Any]) -> None:
    """Set the same `values` (field name: value) on the rows `pks`: one UPDATE. Raw SQL:
    the ORM's `filter().update()` compiled its query for more CPU than the statement cost
    the database (bench/production.py's profile)."""
    opts = model._meta
    connection = connections[router.db_for_write(model)]
    quote = connection.ops.quote_name
    columns = _columns(model, list(values))
    # Only names from the model's own metadata, quoted; every value is a parameter.
    sql = "UPDATE {} SET {} WHERE {} IN ({})".format(  # noqa: S608
        quote(opts.db_table),
        ", ".join(f"{quote(str(column.column))} = %s" for column in columns),
        quote(str(opts.pk.column)),
        ", ".join(["%s"] * len(pks)),
    )
    params = [column.get_db_prep_save(values[column.name], connection) for column in columns]
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, *pks])


def insert_rows(model: type[M], rows: Sequence[M]) -> int:
    """Insert `rows` (new objects) in one INSERT of every concrete field but the primary
    key, which is not read back (the objects keep `pk` None). Return the rows inserted.

    For rows nothing reads again in this process (snapshots, the call log): Django's
    `save()` and `bulk_create()` cost more CPU than the statement itself (signals,
    RETURNING, per-object state). Values go through each field's `pre_save` (auto_now,
    defaults already set on the object) and `get_db_prep_save`, as Django's own INSERT.
    """
    if not rows:
        return 0
    opts = model._meta
    connection = connections[router.db_for_write(model)]
    quote = connection.ops.quote_name
    columns = [field for field in opts.concrete_fields if not field.primary_key]
    one = "({})".format(", ".join(["%s"] * len(columns)))
    # Only names from the model's own metadata, quoted; every value is a parameter.
    head = "INSERT INTO {} ({}) VALUES ".format(  # noqa: S608
        quote(opts.db_table), ", ".join(quote(str(column.column)) for column in columns)
    )
    size = max(1, connection.ops.bulk_batch_size(columns, rows))  # SQLite's parameter cap
    with connection.cursor() as cursor:
        for start in range(0, len(rows), size):
            batch = rows[start : start + size]
            params = [
                column.get_db_prep_save(column.pre_save(row, True), connection)
                for row in batch
                for column in columns
            ]
            cursor.execute(head + ", ".join([one] * len(batch)), params)
    return len(rows)


def _update_rows(model: type[M], rows: Sequence[M], fields: Sequence[str]) -> None:
    """Write `fields` of each row in one statement. On PostgreSQL: one `UPDATE … FROM
    (VALUES …)`, each value cast to its column's bare type. Elsewhere (SQLite): one
    parameterised UPDATE run once per row, in a single `executemany`.

    Django's `bulk_update` builds a `CASE WHEN` per row and field instead: for a batch of
    10 refreshes it took 45 % of the store's CPU (bench/refresh.py). The `executemany`
    went through psycopg's pipeline on PostgreSQL, whose Python side was 7 % of a worker's
    GIL samples at production shape (bench/production.py, py-spy)."""
    opts = model._meta
    connection = connections[router.db_for_write(model)]
    quote = connection.ops.quote_name
    columns = _columns(model, fields)
    pk = opts.pk
    params = [
        [column.get_db_prep_save(getattr(row, column.attname), connection) for column in columns]
        + [row.pk]
        for row in rows
    ]
    table, pk_column = quote(opts.db_table), quote(str(pk.column))
    names = [quote(str(column.column)) for column in columns]
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # Cast to the bare type (varchar, numeric): a cast to varchar(200) would cut a
            # longer value short, where the column's own assignment refuses it, as before.
            one = "({})".format(
                ", ".join(
                    f"CAST(%s AS {str(c.db_type(connection)).split('(')[0]})"
                    for c in [*columns, pk]
                )
            )
            # Only names and types from the model's own metadata; every value a parameter.
            sql = "UPDATE {} SET {} FROM (VALUES {}) AS v ({}) WHERE {}.{} = v.{}".format(  # noqa: S608
                table,
                ", ".join(f"{name} = v.{name}" for name in names),
                ", ".join([one] * len(rows)),
                ", ".join([*names, pk_column]),
                table,
                pk_column,
                pk_column,
            )
            cursor.execute(sql, [value for row in params for value in row])
            return
        # Only names from the model's own metadata, quoted; every value is a parameter.
        sql = "UPDATE {} SET {} WHERE {} = %s".format(  # noqa: S608
            table, ", ".join(f"{name} = %s" for name in names), pk_column
        )
        cursor.executemany(sql, params)


def _key(value: Any) -> Any:
    # Decimal("1.0") and Decimal("1.00") are the same amount (and the same stored value).
    return (type(value).__name__, value)
