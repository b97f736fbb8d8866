"""Tokens at rest: key rotation without downtime, and a loud stop on a wrong key."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet
from django.core.management import call_command
from django.core.management.base import CommandError

from balances.models import PlaidItem
from balances.services import encryption
from finance.security.checks import check_encryption_keys
from tests.factories import PlaidItemFactory
from tests.finance.security.test_deploy_check import production_env, run

pytestmark = pytest.mark.django_db


def key() -> str:
    return Fernet.generate_key().decode()


def items_under(keys: list[str], settings: Any, count: int) -> list[tuple[int, str]]:
    """Create `count` Items encrypted with keys[0]; return (pk, plaintext token) pairs."""
    settings.FIELD_ENCRYPTION_KEYS = keys
    items = [PlaidItemFactory() for _ in range(count)]
    return [(item.pk, item.access_token) for item in items]


def stored(pk: int) -> str:
    return PlaidItem.objects.values_list("access_token_encrypted", flat=True).get(pk=pk)


def test_rotation_reencrypts_every_token_with_the_first_key(settings: Any) -> None:
    old, new = key(), key()
    tokens = items_under([old], settings, 7)
    # Step 1 of the procedure: the new key first, the old one still there to decrypt.
    settings.FIELD_ENCRYPTION_KEYS = [new, old]
    out = io.StringIO()
    call_command("rotate_encryption_key", "--batch-size", "3", stdout=out)
    assert "Re-encrypted 7 token(s); 0 already used the first key." in out.getvalue()
    assert "the other keys can be removed" in out.getvalue()
    # Step 2: the old key removed; every token still opens, and is unchanged.
    settings.FIELD_ENCRYPTION_KEYS = [new]
    for pk, plaintext in tokens:
        assert PlaidItem.objects.get(pk=pk).access_token == plaintext
        Fernet(new).decrypt(stored(pk).encode())
    # A second run has nothing to do.
    out = io.StringIO()
    call_command("rotate_encryption_key", stdout=out)
    assert "Re-encrypted 0 token(s); 7 already used the first key." in out.getvalue()


def test_dry_run_changes_nothing(settings: Any) -> None:
    old, new = key(), key()
    tokens = items_under([old], settings, 2)
    before = {pk: stored(pk) for pk, _ in tokens}
    settings.FIELD_ENCRYPTION_KEYS = [new, old]
    out = io.StringIO()
    call_command("rotate_encryption_key", "--dry-run", stdout=out)
    assert "Would re-encrypt 2 token(s)" in out.getvalue()
    assert {pk: stored(pk) for pk, _ in tokens} == before


def test_undecryptable_tokens_are_reported_and_left_alone(settings: Any) -> None:
    lost, old, new = key(), key(), key()
    [(lost_pk, _)] = items_under([lost], settings, 1)
    good = items_under([old], settings, 2)
    lost_ciphertext = stored(lost_pk)
    settings.FIELD_ENCRYPTION_KEYS = [new, old]
    with pytest.raises(CommandError, match=rf"cannot be decrypted.*PlaidItem ids {lost_pk}\b"):
        call_command("rotate_encryption_key", stdout=io.StringIO())
    assert stored(lost_pk) == lost_ciphertext
    settings.FIELD_ENCRYPTION_KEYS = [new]
    for pk, plaintext in good:
        assert PlaidItem.objects.get(pk=pk).access_token == plaintext


def test_a_token_changed_during_rotation_is_not_overwritten(
    settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A relink writing a new token between our read and our write wins."""
    old, new = key(), key()
    [(pk, _)] = items_under([old], settings, 1)
    settings.FIELD_ENCRYPTION_KEYS = [new, old]
    real_batches = encryption._batches

    def batches_with_a_relink(batch_size: int) -> Any:
        for rows in real_batches(batch_size):
            item = PlaidItem.objects.get(pk=pk)
            item.access_token = "access-sandbox-relinked-secret"
            item.save()
            yield rows

    monkeypatch.setattr(encryption, "_batches", batches_with_a_relink)
    result = encryption.item_tokens_rotate()
    assert (result.rotated, result.changed_meanwhile) == (0, 1)
    assert PlaidItem.objects.get(pk=pk).access_token == "access-sandbox-relinked-secret"


def test_bad_batch_size_is_refused() -> None:
    with pytest.raises(CommandError, match="--batch-size"):
        call_command("rotate_encryption_key", "--batch-size", "0")


def test_system_check_reports_tokens_no_key_decrypts(settings: Any) -> None:
    old, new = key(), key()
    [(pk, _)] = items_under([old], settings, 1)
    assert check_encryption_keys() == []
    settings.FIELD_ENCRYPTION_KEYS = [new]
    [error] = check_encryption_keys()
    assert error.id == "security.E001" and f"PlaidItem ids {pk}" in error.msg
    settings.FIELD_ENCRYPTION_KEYS = [new, old]
    assert check_encryption_keys() == []


def test_migrate_on_an_empty_database_then_a_wrong_key_stops_start_up(tmp_path: Path) -> None:
    """Start-up check end to end: migrate works on an empty database; once a token is
    stored, `check`, the WSGI app and a Celery worker's start refuse a key that cannot
    decrypt it, and accept the old key kept second (rotation in progress)."""
    right, wrong = key(), key()
    env = production_env(tmp_path, FIELD_ENCRYPTION_KEY=right)
    migrated = run(env, "manage.py", "migrate", "--no-input")
    assert migrated.returncode == 0, migrated.stderr
    created = run(
        env,
        "manage.py",
        "shell",
        "-v",
        "0",
        "-c",
        "from tests.factories import PlaidItemFactory; PlaidItemFactory()",
    )
    assert created.returncode == 0, created.stderr
    assert run(env, "manage.py", "check").returncode == 0

    bad = {**env, "FIELD_ENCRYPTION_KEY": wrong}
    checked = run(bad, "manage.py", "check")
    assert checked.returncode != 0 and "security.E001" in checked.stderr
    wsgi = run(bad, "-c", "import finance.wsgi")
    assert wsgi.returncode != 0
    assert "cannot be decrypted with FIELD_ENCRYPTION_KEY" in wsgi.stderr
    worker = run(
        bad, "-m", "celery", "-A", "finance", "worker", "--pool", "solo", "--without-gossip"
    )
    assert worker.returncode != 0
    assert "Refusing to start the worker" in worker.stderr, worker.stderr[-2000:]

    rotating = {**env, "FIELD_ENCRYPTION_KEY": f"{wrong},{right}"}
    assert run(rotating, "-c", "import finance.wsgi").returncode == 0
