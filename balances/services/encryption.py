"""Access-token key management: find tokens the keys cannot open, re-encrypt with the first.

Rotation never blocks anything: each token is swapped with a compare-and-set UPDATE, so a
refresh or a re-link running meanwhile either sees the old ciphertext (still decryptable:
the old key stays in FIELD_ENCRYPTION_KEY until rotation is done) or the new one.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from django.db import DatabaseError, connection

from balances import crypto
from balances.models import PlaidItem


@dataclass
class RotationResult:
    rotated: int = 0
    already_current: int = 0
    # Changed by another process between our read and our write: left for the next run.
    changed_meanwhile: int = 0
    # Primary keys of Items whose token no configured key decrypts.
    undecryptable: list[int] = field(default_factory=list)


def _batches(batch_size: int) -> Iterator[list[tuple[int, str]]]:
    """Yield (pk, ciphertext) in primary-key order, `batch_size` rows per query."""
    last_pk = 0
    while True:
        rows = list(
            PlaidItem.objects.filter(pk__gt=last_pk)
            .order_by("pk")
            .values_list("pk", "access_token_encrypted")[:batch_size]
        )
        if not rows:
            return
        yield rows
        last_pk = rows[-1][0]


def item_tokens_rotate(*, batch_size: int = 500, dry_run: bool = False) -> RotationResult:
    """Re-encrypt every stored access token with the first key of FIELD_ENCRYPTION_KEY.

    Reads `batch_size` Items per query (memory stays flat), skips tokens already under the
    first key (re-runs are cheap) and writes each changed token with one UPDATE that only
    applies if the stored ciphertext is still the one read. Never raises for a token no key
    can decrypt: it is listed in `undecryptable` and left untouched.
    """
    result = RotationResult()
    for rows in _batches(batch_size):
        for pk, ciphertext in rows:
            if crypto.is_current(ciphertext):
                result.already_current += 1
                continue
            try:
                rotated = crypto.rotate(ciphertext)
            except crypto.TokenDecryptionError:
                result.undecryptable.append(pk)
                continue
            if dry_run:
                result.rotated += 1
                continue
            updated = PlaidItem.objects.filter(pk=pk, access_token_encrypted=ciphertext).update(
                access_token_encrypted=rotated
            )
            if updated:
                result.rotated += 1
            else:
                result.changed_meanwhile += 1
    return result


def undecryptable_item_ids(*, limit: int = 10, scan: int | None = None) -> list[int] | None:
    """Return up to `limit` Item ids whose token no configured key decrypts.

    Looks at every stored token, or with `scan` only the newest `scan` of them (a wrong key
    fails them all, so a sample finds it at the cost of `scan` decryptions, a few
    microseconds each). Returns None when there is nothing to check yet (no database, or
    the table is not migrated), so `migrate` on an empty database works.
    """
    try:
        if PlaidItem._meta.db_table not in connection.introspection.table_names():
            return None
        rows = PlaidItem.objects.order_by("-pk").values_list("pk", "access_token_encrypted")
        if scan is not None:
            rows = rows[:scan]
        bad: list[int] = []
        for pk, ciphertext in rows.iterator(chunk_size=2000):
            if not crypto.can_decrypt(ciphertext):
                bad.append(pk)
                if len(bad) >= limit:
                    break
        return bad
    except DatabaseError:
        return None
