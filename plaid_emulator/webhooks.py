"""Sign webhooks like Plaid (ES256 JWT in ``Plaid-Verification``) and deliver them.

Delivery runs on one background thread fed by a queue, so an API reply never
waits for a webhook: each POST has a short timeout and a couple of retries
with backoff; failures are logged and counted, never raised.
"""

from __future__ import annotations

import base64
import collections
import hashlib
import json
import logging
import queue
import threading
import time
import urllib.error
import urllib.request
import uuid
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

log = logging.getLogger("plaid_emulator.webhooks")

TIMEOUT_S = 3.0
RETRIES = 2
BACKOFF_S = 0.5


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def new_key(now: float) -> dict[str, Any]:
    """Generate a P-256 signing key; return it as the state-file record."""
    private = ec.generate_private_key(ec.SECP256R1())
    pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode("ascii")
    return {"kid": str(uuid.uuid4()), "created_at": int(now), "private_pem": pem}


class Signer:
    """Sign webhook bodies with one ES256 key and publish its JWK."""

    def __init__(self, record: dict[str, Any]) -> None:
        self.kid: str = record["kid"]
        self.created_at: int = int(record["created_at"])
        key = serialization.load_pem_private_key(record["private_pem"].encode(), password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise ValueError("webhook key must be an EC private key")
        self._key = key
        numbers = key.public_key().public_numbers()
        self.jwk: dict[str, Any] = {
            "alg": "ES256",
            "crv": "P-256",
            "kid": self.kid,
            "kty": "EC",
            "use": "sig",
            "x": _b64url(numbers.x.to_bytes(32, "big")),
            "y": _b64url(numbers.y.to_bytes(32, "big")),
            "created_at": self.created_at,
            "expired_at": None,
        }

    def sign(self, body: bytes, iat: int | None = None) -> str:
        """Return the compact JWT for ``body`` (claims ``iat``, ``request_body_sha256``)."""
        header = {"alg": "ES256", "kid": self.kid, "typ": "JWT"}
        claims = {
            "iat": int(time.time()) if iat is None else iat,
            "request_body_sha256": hashlib.sha256(body).hexdigest(),
        }
        signing_input = (
            _b64url(json.dumps(header, separators=(",", ":")).encode())
            + "."
            + _b64url(json.dumps(claims, separators=(",", ":")).encode())
        )
        der = self._key.sign(signing_input.encode("ascii"), ec.ECDSA(hashes.SHA256()))
        r, s = decode_dss_signature(der)
        return signing_input + "." + _b64url(r.to_bytes(32, "big") + s.to_bytes(32, "big"))


class Deliverer:
    """Post signed webhooks from a background thread; keep a short delivery log."""

    def __init__(self, signer: Signer) -> None:
        self.signer = signer
        self._queue: queue.Queue[tuple[str, dict[str, Any]] | None] = queue.Queue()
        self.log: collections.deque[dict[str, Any]] = collections.deque(maxlen=200)
        self.sent = 0
        self.failed = 0
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="emulator-webhooks", daemon=True)
        self._thread.start()

    def send(self, url: str, payload: dict[str, Any]) -> None:
        """Queue ``payload`` for delivery to ``url`` (returns at once)."""
        self._queue.put((url, payload))

    def stop(self) -> None:
        """Stop the delivery thread; undelivered webhooks are dropped (waits at most 1 s)."""
        self._stopping.set()
        self._queue.put(None)
        self._thread.join(timeout=1.0)

    def _run(self) -> None:
        while True:
            job = self._queue.get()
            if job is None or self._stopping.is_set():
                return
            url, payload = job
            body = json.dumps(payload, indent=2).encode("utf-8")
            entry: dict[str, Any] = {"url": url, "payload": payload, "attempts": 0}
            for attempt in range(RETRIES + 1):
                entry["attempts"] = attempt + 1
                try:
                    self._post(url, body)
                except (OSError, urllib.error.URLError, ValueError) as exc:
                    entry["error"] = str(exc)
                    log.warning("webhook to %s failed (attempt %d): %s", url, attempt + 1, exc)
                    if self._stopping.wait(BACKOFF_S * (attempt + 1)):
                        return
                    continue
                entry["status"] = "delivered"
                entry.pop("error", None)
                self.sent += 1
                break
            else:
                entry["status"] = "failed"
                self.failed += 1
                log.error("webhook to %s gave up after %d attempts", url, RETRIES + 1)
            self.log.append(entry)

    def _post(self, url: str, body: bytes) -> None:
        req = urllib.request.Request(  # noqa: S310 - URL set by the API client (http/https)
            url,
            data=body,
            method="POST",
            headers={
                "Content-Type": "application/json",
                "Plaid-Verification": self.signer.sign(body),
                "User-Agent": "Plaid Verifier",
            },
        )
        with urllib.request.urlopen(req, timeout=TIMEOUT_S) as resp:  # noqa: S310
            if resp.status >= 300:
                raise ValueError(f"HTTP {resp.status}")
