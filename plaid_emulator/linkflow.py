"""Back the Link stand-in's frame: session, login, OAuth and finish, keyed by link token.

These JSON endpoints (``POST /link/api/{session,login,oauth,finish}``) are called
by ``frame.js`` from the emulator's own origin; they authenticate with the
link token, like Plaid's Link. Sessions live in memory only.

OAuth (Plaid's redirect flow): with a link token that has a ``redirect_uri``, picking
an OAuth institution leaves for the "bank" page (``GET /link/oauth``); allowing access
there sends the browser to ``redirect_uri?oauth_state_id=...``, and Link opened again
with the same token and ``receivedRedirectUri`` resumes at the account list.
"""

from __future__ import annotations

import threading
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit, urlunsplit

from .accounts import Account, accounts_for_login
from .core import Emulator, new_item_id
from .errors import PlaidAPIError, invalid_field, missing_fields
from .institutions import INSTITUTIONS, Institution
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


@dataclass
class OAuthState:
    """Hold one trip to an OAuth institution: which Link session it resumes."""

    state_id: str
    session_id: str
    link_token: str
    institution_id: str
    authorized: bool = False


def _resume_error(message: str) -> PlaidAPIError:
    return PlaidAPIError(
        "INVALID_FIELD",
        message,
        display_message="This bank login could not be resumed. Please start again.",
    )


class LinkFlow:
    """Drive the Link stand-in's steps against the emulator state."""

    def __init__(self, emu: Emulator) -> None:
        self.emu = emu
        self._lock = threading.Lock()
        self._sessions: dict[str, LinkSession] = {}
        self._oauth: dict[str, OAuthState] = {}

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
        """Start a Link session: say which mode and which institutions to offer.

        With ``received_redirect_uri`` (back from an OAuth institution), resume the session
        that left for it instead: same link token, authorized, accounts ready to pick.
        """
        lt = self._link_token(body)
        if body.get("received_redirect_uri") is not None:
            return self._resume(lt, body["received_redirect_uri"])
        sess = LinkSession(session_id=str(uuid.uuid4()), link_token=lt.token)
        institution = None
        if lt.item_id:
            item = self._update_item(lt)
            inst = INSTITUTIONS[item.institution_id]
            sess.institution_id = inst.institution_id
            institution = _institution_json(inst)
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
            "redirect": lt.redirect_uri is not None,
            "institution": institution,
            "institutions": [
                _institution_json(i)
                for i in INSTITUTIONS.values()
                if countries & set(i.country_codes)
            ],
        }

    def _resume(self, lt: LinkToken, received: Any) -> dict[str, Any]:
        if not isinstance(received, str):
            raise invalid_field("received_redirect_uri must be a string")
        parts = urlsplit(received)
        base = urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))
        if lt.redirect_uri is None or base != lt.redirect_uri:
            raise _resume_error("received_redirect_uri does not match the link token's")
        state_ids = parse_qs(parts.query).get("oauth_state_id", [])
        with self._lock:
            st = self._oauth.get(state_ids[0]) if len(state_ids) == 1 else None
            sess = self._sessions.get(st.session_id) if st is not None else None
        if st is None or sess is None or st.link_token != lt.token or not st.authorized:
            raise _resume_error("unknown or unauthorized oauth_state_id")
        return {
            "link_session_id": sess.session_id,
            "mode": "oauth_resume",
            "client_name": lt.client_name,
            "account_selection_enabled": lt.account_selection_enabled,
            "redirect": True,
            "institution": _institution_json(INSTITUTIONS[st.institution_id]),
            "institutions": [],
            "accounts": _accounts_json(lt, sess),
        }

    def oauth(self, body: dict[str, Any]) -> dict[str, Any]:
        """Leave for an OAuth institution: return the bank page's URL (on this origin)."""
        lt = self._link_token(body)
        sess = self._session(body, lt)
        if lt.redirect_uri is None:
            raise invalid_field("this link token has no redirect_uri")
        if lt.item_id:
            inst = INSTITUTIONS[self._update_item(lt).institution_id]
        else:
            inst = self.emu.institution(body.get("institution_id"))
        if not inst.oauth:
            raise invalid_field(f"{inst.institution_id} is not an OAuth institution")
        st = OAuthState(
            state_id=str(uuid.uuid4()),
            session_id=sess.session_id,
            link_token=lt.token,
            institution_id=inst.institution_id,
        )
        with self._lock:
            if len(self._oauth) > 1000:
                self._oauth.clear()  # bound memory, like the sessions
            self._oauth[st.state_id] = st
        return {"oauth_url": f"/link/oauth?oauth_state_id={st.state_id}"}

    def oauth_state(self, state_id: Any) -> tuple[OAuthState, LinkToken]:
        """Return a pending OAuth trip and its (unexpired) link token."""
        with self._lock:
            st = self._oauth.get(state_id) if isinstance(state_id, str) else None
        if st is None:
            raise invalid_field("unknown oauth_state_id")
        return st, self._link_token({"link_token": st.link_token})

    def oauth_authorize(self, state_id: Any) -> str:
        """Let the user's accounts be shared (the bank's consent); return where to go back."""
        st, lt = self.oauth_state(state_id)
        with self._lock:
            sess = self._sessions.get(st.session_id)
        if sess is None or lt.redirect_uri is None:
            raise invalid_field("the Link session has ended")
        self._prepare(sess, lt, st.institution_id, None, None)  # the bank's login: user_good
        st.authorized = True
        return f"{lt.redirect_uri}?oauth_state_id={st.state_id}"

    def login(self, body: dict[str, Any]) -> dict[str, Any]:
        """Check sandbox credentials; return the accounts to choose from."""
        lt = self._link_token(body)
        sess = self._session(body, lt)
        username, password = body.get("username"), body.get("password")
        if not isinstance(username, str) or not isinstance(password, str):
            raise missing_fields("username", "password")
        inst = self._prepare(sess, lt, body.get("institution_id"), username, password)
        return {
            "institution": {"institution_id": inst.institution_id, "name": inst.name},
            "accounts": _accounts_json(lt, sess),
        }

    def _prepare(
        self,
        sess: LinkSession,
        lt: LinkToken,
        institution_id: Any,
        username: str | None,
        password: str | None,
    ) -> Institution:
        """Log in (raises when the credentials fail) and keep the accounts to pick from."""
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
            inst = self.emu.institution(institution_id)
            item_id = new_item_id()
            accounts = accounts_for_login(item_id, inst, username, password)
            selectable = {a.account_id for a in accounts}
            sess.item_id = item_id
            sess.institution_id = inst.institution_id
        sess.accounts = accounts
        sess.selectable = selectable
        return inst

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
            for state_id in [k for k, v in self._oauth.items() if v.session_id == sess.session_id]:
                del self._oauth[state_id]
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


def _institution_json(inst: Institution) -> dict[str, Any]:
    return {"institution_id": inst.institution_id, "name": inst.name, "oauth": inst.oauth}


def _accounts_json(lt: LinkToken, sess: LinkSession) -> list[dict[str, Any]]:
    """Return the session's accounts as the frame's account list shows them."""
    update = lt.item_id is not None
    return [
        {
            "id": a.account_id,
            "name": a.name,
            "mask": a.mask,
            "type": a.type,
            "subtype": a.subtype,
            "selectable": a.account_id in sess.selectable,
            "new": update and a.account_id in sess.selectable,
            "selected": not (update and a.account_id in sess.selectable),
        }
        for a in sess.accounts
    ]


ROUTES = ("session", "login", "oauth", "finish")
