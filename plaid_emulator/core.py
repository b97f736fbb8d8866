"""Tie state, signing, delivery, rate limits and stats together (no HTTP here)."""

from __future__ import annotations

import collections
import datetime as dt
import hashlib
import logging
import random
import threading
import uuid
from dataclasses import dataclass
from typing import Any

from . import drift
from .accounts import Account, plaid_id
from .errors import PlaidAPIError, error_object
from .institutions import Institution, get_institution
from .ratelimit import RateLimiter
from .store import Item, State
from .webhooks import Deliverer, Signer, new_key

DAY = drift.DAY

log = logging.getLogger("plaid_emulator")

DEFAULT_CLIENT_ID = "emulator-client-id"
DEFAULT_SECRET = "emulator-secret"  # noqa: S105 - documented offline default, not a secret
ENVIRONMENT = "sandbox"
_RID_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"


@dataclass
class Config:
    """Hold start-up options (CLI flags or ``start_emulator`` arguments)."""

    host: str = "127.0.0.1"
    port: int = 8765
    state_path: str | None = None
    freeze: bool = False
    drift: bool = False  # undo a freeze kept in the state file
    rate_limits: str = "off"
    client_id: str = DEFAULT_CLIENT_ID
    secret: str = DEFAULT_SECRET
    seed: int = 0
    latency: str = "off"
    faults: tuple[str, ...] = ()
    balance_webhook_interval: float = 0.0  # seconds; 0 = no periodic DEFAULT_UPDATE


def iso(ts: float) -> str:
    """Return epoch seconds as an ISO-8601 UTC string with a ``Z`` suffix."""
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def new_request_id() -> str:
    """Return a short random request id like Plaid's (cost: one getrandbits)."""
    n = random.getrandbits(90)
    chars = []
    for _ in range(15):
        n, r = divmod(n, 62)
        chars.append(_RID_ALPHABET[r])
    return "".join(chars)


class Emulator:
    """Own the emulator's state and services; the HTTP layer calls into it."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.state = State(config.state_path)
        s = self.state.settings
        if not self.state.loaded:
            s.seed = config.seed
            s.rate_limits = config.rate_limits
        # Flags given at start-up win over the state file.
        if config.freeze:
            s.frozen = True
        elif config.drift:
            s.frozen = False
        if config.rate_limits != "off":
            s.rate_limits = config.rate_limits
        if config.latency != "off":
            from .faults import parse_latency

            s.latency_mode, s.latency_ms = parse_latency(config.latency)
        if config.seed:
            s.seed = config.seed
        if self.state.webhook_key is None:
            self.state.webhook_key = new_key(self.state.now())
            self.state.changed()
        if config.faults:
            from .faults import make_rule

            for spec in config.faults:
                code, _, count = spec.partition(":")
                self.state.faults.append(make_rule(code, count=int(count) if count else None))
        self.signer = Signer(self.state.webhook_key)
        self.deliverer = Deliverer(self.signer)
        self.limiter = RateLimiter()
        self.stats: collections.Counter[str] = collections.Counter()
        self.stats_lock = threading.Lock()
        self._ticker_stop = threading.Event()
        self._ticker: threading.Thread | None = None
        self.state.start_saver()
        if config.balance_webhook_interval > 0:
            self._ticker = threading.Thread(
                target=self._tick_loop, name="emulator-balance-webhooks", daemon=True
            )
            self._ticker.start()

    # -- lifecycle -----------------------------------------------------------
    def close(self) -> None:
        """Stop background threads and write the state file."""
        self._ticker_stop.set()
        self.deliverer.stop()
        self.state.close()

    def count(self, key: str) -> None:
        """Count one request for ``/emulator/stats``."""
        with self.stats_lock:
            self.stats[key] += 1

    # -- auth and look-ups ---------------------------------------------------
    def check_credentials(self, client_id: Any, secret: Any) -> str:
        """Raise unless ``client_id``/``secret`` are the configured ones; return the id."""
        if not client_id or not secret:
            missing = [n for n, v in (("client_id", client_id), ("secret", secret)) if not v]
            raise PlaidAPIError(
                "MISSING_FIELDS",
                "the following required fields are missing: " + ", ".join(missing),
            )
        if client_id != self.config.client_id or secret != self.config.secret:
            raise PlaidAPIError("INVALID_API_KEYS")
        return str(client_id)

    def item_for_token(self, access_token: Any, *, allow_error: bool = True) -> Item:
        """Return the live Item of ``access_token`` or raise Plaid's error.

        With ``allow_error=False`` an Item in an error state (e.g.
        ITEM_LOGIN_REQUIRED) raises that error, as data endpoints do.
        """
        if not isinstance(access_token, str) or not access_token:
            raise PlaidAPIError(
                "MISSING_FIELDS", "the following required fields are missing: access_token"
            )
        item = self.state.by_access_token.get(access_token)
        if item is None:
            if not access_token.startswith("access-"):
                raise PlaidAPIError("INVALID_ACCESS_TOKEN")
            raise PlaidAPIError("INVALID_ACCESS_TOKEN", "could not find matching access token")
        if item.removed:
            raise PlaidAPIError("ITEM_NOT_FOUND")
        if not allow_error and item.error is not None:
            err = item.error
            raise PlaidAPIError(
                err["error_code"],
                err["error_message"],
                error_type=err["error_type"],
                display_message=err.get("display_message"),
            )
        return item

    def institution(self, institution_id: Any) -> Institution:
        """Return the institution or raise INVALID_INSTITUTION."""
        inst = get_institution(institution_id) if isinstance(institution_id, str) else None
        if inst is None:
            raise PlaidAPIError("INVALID_INSTITUTION")
        return inst

    # -- creating Items ------------------------------------------------------
    def create_item(
        self,
        institution: Institution,
        accounts: list[Account],
        products: list[str],
        *,
        item_id: str | None = None,
        webhook: str | None = None,
        client_user_id: str | None = None,
    ) -> Item:
        """Create, store and return a new Item."""
        item = Item(
            item_id=item_id or new_item_id(),
            access_token=f"access-sandbox-{uuid.uuid4()}",
            institution_id=institution.institution_id,
            accounts=accounts,
            products=sorted(set(products) or {"transactions"}),
            created_at=self.state.now(),
            webhook=webhook or None,
            client_user_id=client_user_id,
        )
        self.state.add_item(item)
        return item

    # -- JSON shapes ---------------------------------------------------------
    def item_json(self, item: Item, *, consent_fields: bool = False) -> dict[str, Any]:
        """Return Plaid's ``Item`` object for ``item``."""
        inst = get_institution(item.institution_id)
        inst_products = set(inst.products) if inst else {"balance"}
        billed = sorted(set(item.products) - {"balance"})
        out: dict[str, Any] = {
            "item_id": item.item_id,
            "institution_id": item.institution_id,
            "institution_name": inst.name if inst else None,
            "webhook": item.webhook,
            "error": item.error,
            "available_products": sorted(inst_products - set(billed)),
            "billed_products": billed,
            "products": billed,
            "consented_products": billed,
            "consent_expiration_time": item.consent_expiration_time,
            "update_type": "background",
        }
        if consent_fields:
            out["created_at"] = iso(item.created_at)
        return out

    def accounts_json(
        self,
        item: Item,
        at: float,
        *,
        updated: float | None,
        account_ids: list[str] | None = None,
        card_lag: float = 0.0,
    ) -> list[dict[str, Any]]:
        """Return Plaid ``AccountBase`` objects for ``item`` with balances at time ``at``.

        ``card_lag``: seconds by which non-depository accounts' balances (and their
        ``last_updated_datetime``) lag ``at`` (Capital One's cards). Cost: O(accounts) with
        cached drift knots; no lock taken (accounts are replaced, never mutated in place).
        """
        s = self.state.settings
        out = []
        for acc in item.accounts:
            if account_ids is not None and acc.account_id not in account_ids:
                continue
            lag = card_lag if acc.type != "depository" else 0.0
            available, current = drift.balances_at(acc, s.seed, at - lag, item.created_at, s.frozen)
            balances: dict[str, Any] = {
                "available": available,
                "current": current,
                "limit": acc.limit,
                "iso_currency_code": acc.iso_currency_code,
                "unofficial_currency_code": acc.unofficial_currency_code,
            }
            if updated is not None:
                balances["last_updated_datetime"] = iso(updated - lag)
            out.append(
                {
                    "account_id": acc.account_id,
                    "balances": balances,
                    "mask": acc.mask,
                    "name": acc.name,
                    "official_name": acc.official_name,
                    "type": acc.type,
                    "subtype": acc.subtype,
                }
            )
        return out

    # -- webhooks ------------------------------------------------------------
    def send_webhook(self, item: Item, payload: dict[str, Any]) -> bool:
        """Queue a signed webhook to the Item's URL; return False without a URL."""
        if not item.webhook:
            return False
        body = {"environment": ENVIRONMENT, "item_id": item.item_id, **payload}
        self.deliverer.send(item.webhook, body)
        return True

    def item_error_webhook(self, item: Item, error_code: str) -> None:
        """Send ITEM / ERROR carrying ``error_code``'s error object."""
        self.send_webhook(
            item,
            {
                "webhook_type": "ITEM",
                "webhook_code": "ERROR",
                "error": error_object(error_code, new_request_id()),
            },
        )

    def _tick_loop(self) -> None:
        """Send TRANSACTIONS / DEFAULT_UPDATE to every live Item periodically (optional)."""
        interval = self.config.balance_webhook_interval
        while not self._ticker_stop.wait(interval):
            if self.state.settings.frozen:
                continue
            with self.state.lock:
                items = [i for i in self.state.items.values() if not i.removed and i.webhook]
            for item in items:
                item.last_transactions_update = self.state.now()
                self.send_webhook(
                    item,
                    {
                        "webhook_type": "TRANSACTIONS",
                        "webhook_code": "DEFAULT_UPDATE",
                        "new_transactions": 0,
                        "error": None,
                    },
                )

    def transaction_updates(self, start: float, end: float) -> int:
        """Apply Plaid's transaction updates due in (``start``, ``end``] of the emulator
        clock: each refreshes its Item's cached balances; each Item with one or more sends
        one TRANSACTIONS / DEFAULT_UPDATE (when it has a webhook URL: updates due in one
        move of the clock all arrive at its end, as one). Return how many were sent, in the
        order of the Items' latest updates. Cost: O(Items x days moved)."""
        due: list[tuple[float, Item]] = []
        with self.state.lock:
            items = [i for i in self.state.items.values() if not i.removed]
        for item in items:
            times = transaction_update_times(self.state.settings.seed, item.item_id, start, end)
            if times:
                due.append((times[-1], item))
        sent = 0
        for at, item in sorted(due, key=lambda d: (d[0], d[1].item_id)):
            item.last_transactions_update = at
            sent += self.send_webhook(
                item,
                {
                    "webhook_type": "TRANSACTIONS",
                    "webhook_code": "DEFAULT_UPDATE",
                    "new_transactions": 1,
                    "error": None,
                },
            )
        return sent


def transaction_update_times(seed: int, item_id: str, start: float, end: float) -> list[float]:
    """Return when Plaid finds new transactions for ``item_id`` in (``start``, ``end``].

    As Plaid documents, it checks an Item for new transactions about one to four times a
    day: here each UTC day has 1-4 updates at pseudo-random times, a pure function of the
    seed, the Item and the day (two emulators agree; moving the clock in any steps gives
    the same updates).
    """
    times: list[float] = []
    for day in range(int(start // DAY), int(end // DAY) + 1):
        raw = hashlib.blake2b(
            f"{seed}:{item_id}:transactions:{day}".encode(), digest_size=9
        ).digest()
        count = 1 + raw[0] % 4
        for n in range(count):
            at = day * DAY + int.from_bytes(raw[1 + 2 * n : 3 + 2 * n], "big") / 65536 * DAY
            if start < at <= end:
                times.append(at)
    return sorted(times)


def new_item_id() -> str:
    """Return a fresh random-looking 37-character Item id."""
    return plaid_id(str(uuid.uuid4()), "item")
