"""Encrypt and decrypt Plaid access tokens with the keys in FIELD_ENCRYPTION_KEY.

Fernet is authenticated encryption (AES-128-CBC + HMAC-SHA256): a wrong key or a
tampered value fails to decrypt instead of yielding garbage. The first key encrypts;
every key decrypts, so keys can be rotated without downtime.
"""

from functools import cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


class TokenDecryptionError(ImproperlyConfigured):
    """A stored access token cannot be decrypted with the configured keys."""


@cache
def _fernet(keys: tuple[str, ...]) -> MultiFernet:
    return MultiFernet([Fernet(key) for key in keys])


def _current() -> MultiFernet:
    return _fernet(tuple(settings.FIELD_ENCRYPTION_KEYS))


def _primary() -> MultiFernet:
    return _fernet(tuple(settings.FIELD_ENCRYPTION_KEYS[:1]))


def is_current(ciphertext: str) -> bool:
    """Return whether `ciphertext` is encrypted with the primary (first) key."""
    try:
        _primary().decrypt(ciphertext.encode())
    except InvalidToken:
        return False
    return True


def can_decrypt(ciphertext: str) -> bool:
    """Return whether any configured key decrypts `ciphertext`."""
    try:
        _current().decrypt(ciphertext.encode())
    except InvalidToken:
        return False
    return True


def encrypt(plaintext: str) -> str:
    """Return `plaintext` encrypted with the primary key, as text."""
    return _current().encrypt(plaintext.encode()).decode()


def decrypt(ciphertext: str) -> str:
    """Return the plaintext of `ciphertext`; raise TokenDecryptionError on a wrong key."""
    try:
        return _current().decrypt(ciphertext.encode()).decode()
    except InvalidToken as exc:
        raise TokenDecryptionError(
            "A stored Plaid access token cannot be decrypted: FIELD_ENCRYPTION_KEY does not "
            "hold the key it was encrypted with."
        ) from exc


def rotate(ciphertext: str) -> str:
    """Return `ciphertext` re-encrypted with the primary key."""
    try:
        return _current().rotate(ciphertext.encode()).decode()
    except InvalidToken as exc:
        raise TokenDecryptionError(
            "A stored Plaid access token cannot be decrypted for rotation."
        ) from exc
