import pytest
from cryptography.fernet import Fernet
from django.db import IntegrityError, connection

from balances import crypto
from balances.models import BalanceSnapshot
from tests.factories import AccountFactory, BalanceSnapshotFactory, PlaidItemFactory

pytestmark = pytest.mark.django_db


def test_access_token_is_encrypted_at_rest():
    item = PlaidItemFactory(access_token="access-sandbox-plaintext")
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT access_token_encrypted FROM balances_plaiditem WHERE id = %s", [item.pk]
        )
        (stored,) = cursor.fetchone()
    assert "access-sandbox-plaintext" not in stored
    item.refresh_from_db()
    assert item.access_token == "access-sandbox-plaintext"


def test_wrong_key_fails_loudly(settings):
    item = PlaidItemFactory(access_token="access-sandbox-plaintext")
    settings.FIELD_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    with pytest.raises(crypto.TokenDecryptionError, match="FIELD_ENCRYPTION_KEY"):
        _ = item.access_token


def test_old_keys_still_decrypt_and_rotate(settings):
    item = PlaidItemFactory(access_token="tok")
    old = settings.FIELD_ENCRYPTION_KEYS[0]
    settings.FIELD_ENCRYPTION_KEYS = [Fernet.generate_key().decode(), old]
    assert item.access_token == "tok"
    rotated = crypto.rotate(item.access_token_encrypted)
    settings.FIELD_ENCRYPTION_KEYS = settings.FIELD_ENCRYPTION_KEYS[:1]
    assert crypto.decrypt(rotated) == "tok"


def test_account_id_is_unique_within_an_item():
    account = AccountFactory(plaid_account_id="same")
    AccountFactory(plaid_account_id="same")  # another Item: fine
    with pytest.raises(IntegrityError):
        AccountFactory(item=account.item, plaid_account_id="same")


def test_plaid_item_id_is_unique():
    PlaidItemFactory(plaid_item_id="it")
    with pytest.raises(IntegrityError):
        PlaidItemFactory(plaid_item_id="it")


def test_snapshots_are_append_only():
    snapshot = BalanceSnapshotFactory()
    with pytest.raises(TypeError):
        snapshot.save()
    with pytest.raises(TypeError):
        BalanceSnapshot.objects.all().update(current=1)
