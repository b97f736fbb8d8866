"""The backup and restore commands the README documents, run for real on this database."""

import shutil
import sqlite3
import subprocess
import uuid

import pytest
from django.db import connection

from balances import crypto
from balances.models import BalanceSnapshot, PlaidItem
from tests.conftest import require_service
from tests.factories import AccountFactory, BalanceSnapshotFactory, PlaidItemFactory

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def data():
    items = [PlaidItemFactory() for _ in range(3)]
    for item in items:
        for _ in range(2):
            account = AccountFactory(item=item)
            for _ in range(3):
                BalanceSnapshotFactory(account=account)
    return {
        "items": sorted(PlaidItem.objects.values_list("plaid_item_id", flat=True)),
        "snapshots": BalanceSnapshot.objects.count(),
        "token": items[0].access_token,
    }


def test_sqlite_backup_restores_every_item_and_snapshot(data, tmp_path):
    if connection.vendor != "sqlite":
        pytest.skip("this run uses PostgreSQL; the SQLite backup is tested on the SQLite run")
    require_service("sqlite3 CLI", lambda: bool(shutil.which("sqlite3")), "apt-get install sqlite3")
    backup = tmp_path / "backup.sqlite3"
    # README: sqlite3 var/db.sqlite3 ".backup 'backup.sqlite3'" (safe while the app runs)
    subprocess.run(["sqlite3", connection.settings_dict["NAME"], f".backup '{backup}'"], check=True)
    restored = tmp_path / "restored.sqlite3"
    shutil.copy(backup, restored)  # README: restore = copy the backup into place
    with sqlite3.connect(restored) as db:
        items = sorted(r[0] for r in db.execute("SELECT plaid_item_id FROM balances_plaiditem"))
        snapshots = db.execute("SELECT COUNT(*) FROM balances_balancesnapshot").fetchone()[0]
        ciphertexts = {
            r[0] for r in db.execute("SELECT access_token_encrypted FROM balances_plaiditem")
        }
    assert items == data["items"]
    assert snapshots == data["snapshots"]
    # With the same FIELD_ENCRYPTION_KEY, the restored tokens still decrypt.
    assert data["token"] in {crypto.decrypt(c) for c in ciphertexts}


def test_postgres_backup_restores_every_item_and_snapshot(data, tmp_path):
    if connection.vendor != "postgresql":
        pytest.skip("this run uses SQLite; the PostgreSQL backup is tested on the PostgreSQL run")
    require_service(
        "pg_dump", lambda: bool(shutil.which("pg_dump")), "apt-get install postgresql-client"
    )
    s = connection.settings_dict
    common = ["-h", s["HOST"] or "127.0.0.1", "-p", str(s["PORT"] or 5432), "-U", s["USER"]]
    dump = tmp_path / "finance.dump"
    # README: pg_dump -Fc -f finance.dump finance
    subprocess.run(["pg_dump", *common, "-Fc", "-f", str(dump), s["NAME"]], check=True)
    fresh = f"restore_{uuid.uuid4().hex[:8]}"
    subprocess.run(["createdb", *common, fresh], check=True)
    try:
        # README: createdb finance && pg_restore --no-owner -d finance finance.dump
        subprocess.run(["pg_restore", *common, "--no-owner", "-d", fresh, str(dump)], check=True)
        out = subprocess.run(
            [
                "psql",
                *common,
                "-d",
                fresh,
                "-tA",
                "-c",
                "SELECT string_agg(plaid_item_id, ',' ORDER BY plaid_item_id)"
                " FROM balances_plaiditem;"
                "SELECT COUNT(*) FROM balances_balancesnapshot;"
                "SELECT access_token_encrypted FROM balances_plaiditem;",
            ],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.split()
    finally:
        subprocess.run(["dropdb", *common, fresh], check=True)
    assert out[0].split(",") == data["items"]
    assert int(out[1]) == data["snapshots"]
    assert data["token"] in {crypto.decrypt(c) for c in out[2:]}
