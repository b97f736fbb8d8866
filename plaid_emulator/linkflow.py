"""Back the Link stand-in's frame: session, login and finish, keyed by link token.

These JSON endpoints (``POST /link/api/{session,login,finish}``) are called
by ``frame.js`` from the emulator's own origin; they authenticate with the
link token, like Plaid's Link. Sessions live in memory only.
"""

from __future__ import annotations

import threading
import uuid
from dataclasses import dataclass, field
from typing import Any

from .accounts import Account, accounts_for_login
from .core import Emulator, new_item_id
from .errors import PlaidAPIError, invalid_field, missing_fields
from .institutions import INSTITUTIONS
from .store import Item, LinkToken


@dataclass
class LinkSession:
    """Hold one Link session's progress."""

    session_id: str
    link_token: str
    institution_id: str | None = None
    item_id: str | None = None
    accounts: list[Account] = field(default_factory=list)
    selectable: set[str] = field(default_factory=set)


class LinkFlow:
    """Drive the Link stand-in's steps against the emulator state."""

    def __init__(self, emu: Emulator) -> None:
        self.emu = emu
        self._lock = threading.Lock()
        self._sessions: dict[str, LinkSession] = {}

    def _link_token(self, body: dict[str, Any]) -> LinkToken:
        token = body.get("link_token")
        if not isinstance(token, str) or not token:
            raise missing_fields("link_token")
        lt = self.emu.state.link_tokens.get(token)
        if lt is None or lt.expires_at <= self.emu.state.now():
            raise PlaidAPIError(
                "INVALID_LINK_TOKEN", display_message="This link session has expired."
            )
        return lt

    def _session(self, body: dict[str, Any], lt: LinkToken) -> LinkSession:
        sid = body.get("link_session_id")
        with self._lock:
            sess = self._sessions.get(sid) if isinstance(sid, str) else None
        if sess is None or sess.link_token != lt.token:
            raise invalid_field("unknown link_session_id")
        return sess

    def _update_item(self, lt: LinkToken) -> Item:
        item = self.emu.state.items.get(lt.item_id or "")
        if item is None or item.removed:
            raise PlaidAPIError("ITEM_NOT_FOUND")
        return item

    def session(self, body: dict[str, Any]) -> dict[str, Any]:
        """Start a Link session: say which mode and which institutions to offer."""
        lt = self._link_token(body)
        sess = LinkSession(session_id=str(uuid.uuid4()), link_token=lt.token)
        institution = None
        if lt.item_id:
            item = self._update_item(lt)
            inst = INSTITUTIONS[item.institution_id]
            sess.institution_id = inst.institution_id
            institution = {"institution_id": inst.institution_id, "name": inst.name}
        with self._lock:
            if len(self._sessions) > 1000:
                self._sessions.clear()  # bound memory; stale sessions simply restart
            self._sessions[sess.session_id] = sess
        countries = set(lt.country_codes)
        return {
            "link_session_id": sess.session_id,
            "mode": "update" if lt.item_id else "new",
            "client_name": lt.client_name,
            "account_selection_enabled": lt.account_selection_enabled,
            "institution": institution,
            "institutions": [
                {"institution_id": i.institution_id, "name": i.name}
                for i in INSTITUTIONS.values()
                if countries & set(i.country_codes)
            ],
        }

    def login(self, body: dict[str, Any]) -> dict[str, Any]:
        """Check sandbox credentials; return the accounts to choose from."""
        lt = self._link_token(body)
        sess = self._session(body, lt)
        username, password = body.get("username"), body.get("password")
        if not isinstance(username, str) or not isinstance(password, str):
            raise missing_fields("username", "password")
        if lt.item_id:
            item = self._update_item(lt)
            inst = INSTITUTIONS[item.institution_id]
            accounts_for_login(item.item_id, inst, username, password)  # raises when wrong
            accounts = list(item.accounts)
            selectable = set()
            if lt.account_selection_enabled:
                accounts += item.new_accounts
                selectable = {a.account_id for a in item.new_accounts}
            sess.item_id = item.item_id
        else:
            inst = self.emu.institution(body.get("institution_id"))
            item_id = new_item_id()
            accounts = accounts_for_login(item_id, inst, username, password)
            selectable = {a.account_id for a in accounts}
            sess.item_id = item_id
            sess.institution_id = inst.institution_id
        sess.accounts = accounts
        sess.selectable = selectable
        return {
            "institution": {"institution_id": inst.institution_id, "name": inst.name},
            "accounts": [
                {
                    "id": a.account_id,
                    "name": a.name,
                    "mask": a.mask,
                    "type": a.type,
                    "subtype": a.subtype,
                    "selectable": a.account_id in selectable,
                    "new": lt.item_id is not None and a.account_id in selectable,
                    "selected": not (lt.item_id is not None and a.account_id in selectable),
                }
                for a in accounts
            ],
        }

    def finish(self, body: dict[str, Any]) -> dict[str, Any]:
        """Create (or repair) the Item; return the public token and Link metadata."""
        lt = self._link_token(body)
        sess = self._session(body, lt)
        if not sess.accounts or sess.item_id is None or sess.institution_id is None:
            raise invalid_field("log in before finishing")
        ids = body.get("account_ids")
        if not isinstance(ids, list):
            raise missing_fields("account_ids")
        chosen = set(ids)
        emu = self.emu
        inst = INSTITUTIONS[sess.institution_id]
        if lt.item_id:
            item = self._update_item(lt)
            with emu.state.lock:
                item.error = None
                added = [a for a in item.new_accounts if a.account_id in chosen]
                if added:
                    item.accounts = item.accounts + added
                    item.new_accounts = [a for a in item.new_accounts if a not in added]
            emu.state.changed()
            result_accounts = item.accounts
        else:
            picked = [a for a in sess.accounts if a.account_id in chosen]
            if not picked:
                raise invalid_field("select at least one account")
            item = emu.create_item(
                inst,
                picked,
                lt.products,
                item_id=sess.item_id,
                webhook=lt.webhook,
                client_user_id=lt.client_user_id,
            )
            result_accounts = picked
        with self._lock:
            self._sessions.pop(sess.session_id, None)
        public_token = emu.state.new_public_token(item.item_id)
        accounts_meta = [
            {
                "id": a.account_id,
                "name": a.name,
                "mask": a.mask,
                "type": a.type,
                "subtype": a.subtype,
                "verification_status": None,
                "class_type": None,
            }
            for a in result_accounts
        ]
        return {
            "public_token": public_token,
            "metadata": {
                "institution": {"name": inst.name, "institution_id": inst.institution_id},
                "accounts": accounts_meta,
                "account": accounts_meta[0] if len(accounts_meta) == 1 else None,
                "account_id": accounts_meta[0]["id"] if len(accounts_meta) == 1 else None,
                "link_session_id": sess.session_id,
                "transfer_status": None,
                "public_token": public_token,
            },
        }


ROUTES = ("session", "login", "finish")
