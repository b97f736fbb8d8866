"""Keep the emulator's state (Items, tokens, key, faults, settings) and persist it.

Contract: every mutation happens under ``State.lock`` and is followed by
``State.changed()``, which wakes a saver thread that writes the JSON state file
atomically (temp file + ``os.replace``) at most every ``SAVE_DELAY`` seconds.
Balance reads never mark the state dirty (cost: reads stay lock-light).
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from .accounts import Account

log = logging.getLogger("plaid_emulator")

PUBLIC_TOKEN_TTL = 30 * 60.0
LINK_TOKEN_TTL = 4 * 3600.0
SAVE_DELAY = 0.2
STATE_VERSION = 1


@dataclass
class Item:
    """Hold one linked Item."""

    item_id: str
    access_token: str
    institution_id: str
    accounts: list[Account]
    products: list[str]
    created_at: float
    webhook: str | None = None
    error: dict[str, Any] | None = None
    removed: bool = False
    client_user_id: str | None = None
    new_accounts: list[Account] = field(default_factory=list)
    consent_expiration_time: str | None = None
    # Emulator time of the last /accounts/balance/get (memory only, not persisted).
    last_refresh: float | None = None
    # Emulator time Plaid last found new transactions for the Item (its cached balances are
    # as of then at least; memory only, not persisted).
    last_transactions_update: float | None = None

    def to_json(self) -> dict[str, Any]:
        """Return the Item as a plain dict for the state file."""
        return {
            "item_id": self.item_id,
            "access_token": self.access_token,
            "institution_id": self.institution_id,
            "accounts": [a.to_json() for a in self.accounts],
            "products": self.products,
            "created_at": self.created_at,
            "webhook": self.webhook,
            "error": self.error,
            "removed": self.removed,
            "client_user_id": self.client_user_id,
            "new_accounts": [a.to_json() for a in self.new_accounts],
            "consent_expiration_time": self.consent_expiration_time,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Item:
        """Rebuild an Item from the state file."""
        data = dict(data)
        data["accounts"] = [Account.from_json(a) for a in data["accounts"]]
        data["new_accounts"] = [Account.from_json(a) for a in data.get("new_accounts", [])]
        return cls(**data)


@dataclass
class PublicToken:
    """Hold a single-use public token."""

    token: str
    item_id: str
    expires_at: float
    used: bool = False


@dataclass
class LinkToken:
    """Hold what a link token was made for (the Link stand-in acts on it)."""

    token: str
    expires_at: float
    client_user_id: str
    client_name: str
    country_codes: list[str]
    products: list[str]
    webhook: str | None = None
    item_id: str | None = None  # set in update mode
    account_selection_enabled: bool = False
    redirect_uri: str | None = None  # OAuth institutions send the browser here


@dataclass
class Settings:
    """Hold runtime switches the control endpoint can change."""

    frozen: bool = False
    latency_mode: str = "off"  # off | fixed | realistic
    latency_ms: float = 0.0
    rate_limits: str = "off"  # off | sandbox | production
    clock_offset: float = 0.0
    seed: int = 0
    # Plaid's transaction updates on the emulator clock (see core.transaction_update_times):
    # when on, moving the clock past one refreshes the Item's cache and sends DEFAULT_UPDATE.
    transaction_updates: bool = False


class State:
    """Hold all mutable emulator state behind one lock."""

    def __init__(self, path: str | None = None) -> None:
        self.path = path
        self.lock = threading.RLock()
        self.items: dict[str, Item] = {}
        self.by_access_token: dict[str, Item] = {}
        self.public_tokens: dict[str, PublicToken] = {}
        self.link_tokens: dict[str, LinkToken] = {}
        self.webhook_key: dict[str, Any] | None = None
        self.faults: list[dict[str, Any]] = []
        self.settings = Settings()
        self._dirty = threading.Event()
        self._stop = threading.Event()
        self._saver: threading.Thread | None = None
        self.loaded = False
        if path and os.path.exists(path):
            self._load(path)
            self.loaded = True

    # -- clock ---------------------------------------------------------------
    def now(self) -> float:
        """Return the emulator clock (wall clock plus the test offset), epoch seconds."""
        return time.time() + self.settings.clock_offset

    # -- items and tokens ----------------------------------------------------
    def add_item(self, item: Item) -> None:
        """Store a new Item."""
        with self.lock:
            self.items[item.item_id] = item
            self.by_access_token[item.access_token] = item
        self.changed()

    def new_public_token(self, item_id: str) -> str:
        """Create a public token for ``item_id`` and return it."""
        token = f"public-sandbox-{uuid.uuid4()}"
        with self.lock:
            self._prune()
            self.public_tokens[token] = PublicToken(token, item_id, self.now() + PUBLIC_TOKEN_TTL)
        self.changed()
        return token

    def new_link_token(self, **fields: Any) -> LinkToken:
        """Create and store a link token."""
        lt = LinkToken(
            token=f"link-sandbox-{uuid.uuid4()}", expires_at=self.now() + LINK_TOKEN_TTL, **fields
        )
        with self.lock:
            self._prune()
            self.link_tokens[lt.token] = lt
        self.changed()
        return lt

    def _prune(self) -> None:
        """Drop expired tokens (caller holds the lock; cost O(tokens))."""
        now = self.now()
        if len(self.public_tokens) > 1000:
            self.public_tokens = {
                k: v for k, v in self.public_tokens.items() if v.expires_at > now and not v.used
            }
        if len(self.link_tokens) > 1000:
            self.link_tokens = {k: v for k, v in self.link_tokens.items() if v.expires_at > now}

    def reset(self) -> None:
        """Forget Items, tokens and faults; keep the webhook key and the seed."""
        with self.lock:
            self.items.clear()
            self.by_access_token.clear()
            self.public_tokens.clear()
            self.link_tokens.clear()
            self.faults.clear()
            seed = self.settings.seed
            self.settings = Settings(seed=seed)
        self.changed()

    # -- persistence ---------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        """Return the whole state as a JSON-able dict."""
        with self.lock:
            s = self.settings
            return {
                "version": STATE_VERSION,
                "items": [i.to_json() for i in self.items.values()],
                "public_tokens": [vars(p) for p in self.public_tokens.values()],
                "link_tokens": [vars(lt) for lt in self.link_tokens.values()],
                "webhook_key": self.webhook_key,
                "faults": list(self.faults),
                "settings": vars(s).copy(),
            }

    def _load(self, path: str) -> None:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
        for raw in data.get("items", []):
            item = Item.from_json(raw)
            self.items[item.item_id] = item
            self.by_access_token[item.access_token] = item
        for raw in data.get("public_tokens", []):
            self.public_tokens[raw["token"]] = PublicToken(**raw)
        for raw in data.get("link_tokens", []):
            self.link_tokens[raw["token"]] = LinkToken(**raw)
        self.webhook_key = data.get("webhook_key")
        self.faults = list(data.get("faults", []))
        self.settings = Settings(**data.get("settings", {}))

    def changed(self) -> None:
        """Mark the state dirty; the saver thread writes it soon (no-op in memory)."""
        if self.path:
            self._dirty.set()

    def save_now(self) -> None:
        """Write the state file atomically (temp file, fsync, rename)."""
        if not self.path:
            return
        data = json.dumps(self.to_json(), indent=1, sort_keys=True)
        tmp = f"{self.path}.tmp-{os.getpid()}-{threading.get_ident()}"
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.path)

    def start_saver(self) -> None:
        """Start the debounced saver thread (only with a state path)."""
        if not self.path or self._saver is not None:
            return
        self._saver = threading.Thread(target=self._save_loop, name="emulator-saver", daemon=True)
        self._saver.start()
        self.changed()

    def _save_loop(self) -> None:
        while not self._stop.is_set():
            self._dirty.wait(1.0)
            if not self._dirty.is_set():
                continue
            time.sleep(SAVE_DELAY)  # debounce bursts of changes into one write
            self._dirty.clear()
            try:
                self.save_now()
            except OSError:
                log.exception("could not write state file %s", self.path)

    def close(self) -> None:
        """Stop the saver and write the final state."""
        self._stop.set()
        self._dirty.set()
        if self._saver is not None:
            self._saver.join(timeout=5)
            self._saver = None
        try:
            self.save_now()
        except OSError:
            log.exception("could not write state file %s", self.path)
