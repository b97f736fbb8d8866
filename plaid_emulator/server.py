"""Serve the emulator over HTTP/1.1: routing, auth, faults, and the Link assets.

Built on ``ThreadingHTTPServer`` (one thread per connection, so injected
latency never blocks other clients) with ``TCP_NODELAY`` on accepted sockets
(avoids ~40 ms Nagle/delayed-ACK stalls on keep-alive), a 1024 listen backlog,
and each reply written with a single ``send`` (status line, headers and body).
"""

from __future__ import annotations

import contextlib
import html
import json
import logging
import socket
import threading
import time
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from . import api, control, faults
from .core import Emulator, new_request_id
from .errors import PlaidAPIError
from .institutions import INSTITUTIONS
from .linkflow import LinkFlow

log = logging.getLogger("plaid_emulator")

JSON_TYPE = "application/json; charset=utf-8"
LINK_DIR = Path(__file__).resolve().parent / "link"
# Served path -> (file in link/, content type).
ASSETS: dict[str, tuple[str, str]] = {
    "/link/v2/stable/link-initialize.js": ("link-initialize.js", "application/javascript"),
    "/link/frame": ("frame.html", "text/html; charset=utf-8"),
    "/link/frame.js": ("frame.js", "application/javascript"),
    "/link/frame.css": ("frame.css", "text/css"),
}
# Strict CSP for the frame: no inline script or style anywhere.
FRAME_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors *"
)
# The OAuth "bank" page: a form only (no script); its POST answers 303 to the app.
OAUTH_PATHS = ("/link/oauth", "/link/oauth/authorize")
OAUTH_CSP = "default-src 'none'; style-src 'self'; base-uri 'none'; frame-ancestors 'none'"
OAUTH_PAGE = """<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>{bank} (emulator OAuth)</title>
  <link rel="stylesheet" href="/link/frame.css">
</head>
<body>
  <main id="plaid-emu">
    <h1>{bank}</h1>
    <p>{client} uses Plaid to connect your {bank} accounts. Sandbox: no password here.</p>
    <form method="post" action="/link/oauth/authorize">
      <input type="hidden" name="oauth_state_id" value="{state}">
      <button type="submit" id="authorize" class="primary">Allow access</button>
    </form>
  </main>
</body>
</html>
"""
_REASONS = {s.value: s.phrase for s in HTTPStatus}


def _dumps(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode("utf-8")


class EmulatorHTTPServer(ThreadingHTTPServer):
    """Threaded HTTP server holding the emulator and its open connections."""

    daemon_threads = True
    block_on_close = False
    request_queue_size = 1024  # listen backlog: concurrent clients must not see resets

    def __init__(self, address: tuple[str, int], emu: Emulator) -> None:
        self.emu = emu
        self.link = LinkFlow(emu)
        self.assets = {p: (LINK_DIR / f).read_bytes() for p, (f, _) in ASSETS.items()}
        self._conns: set[socket.socket] = set()
        self._conns_lock = threading.Lock()
        super().__init__(address, RequestHandler)

    def get_request(self) -> tuple[socket.socket, Any]:
        """Accept a connection and disable Nagle on it."""
        sock, addr = self.socket.accept()
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock, addr

    def track(self, sock: socket.socket, add: bool) -> None:
        """Remember (or forget) an open connection so ``close_connections`` can end it."""
        with self._conns_lock:
            if add:
                self._conns.add(sock)
            else:
                self._conns.discard(sock)

    def close_connections(self) -> None:
        """Shut down every open keep-alive connection (used on stop)."""
        with self._conns_lock:
            conns = list(self._conns)
        for sock in conns:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


class RequestHandler(BaseHTTPRequestHandler):
    """Route one HTTP request: Plaid API, Link stand-in, or control endpoint."""

    protocol_version = "HTTP/1.1"
    server: EmulatorHTTPServer

    def setup(self) -> None:
        """Set up streams and register the connection."""
        super().setup()
        self.server.track(self.connection, True)

    def finish(self) -> None:
        """Unregister the connection and close streams."""
        self.server.track(self.connection, False)
        with contextlib.suppress(OSError):
            super().finish()

    def log_message(self, format: str, *args: Any) -> None:
        """Log at debug level only (stderr logging would cost throughput)."""
        log.debug("%s " + format, self.address_string(), *args)

    def do_GET(self) -> None:
        """Handle GET."""
        self._dispatch("GET")

    def do_POST(self) -> None:
        """Handle POST."""
        self._dispatch("POST")

    def do_DELETE(self) -> None:
        """Handle DELETE."""
        self._dispatch("DELETE")

    # -- plumbing ------------------------------------------------------------
    def _send(self, status: int, body: bytes, ctype: str = JSON_TYPE, extra: str = "") -> None:
        head = (
            f"HTTP/1.1 {status} {_REASONS.get(status, 'Unknown')}\r\n"
            f"Content-Type: {ctype}\r\nContent-Length: {len(body)}\r\n{extra}"
            + ("Connection: close\r\n" if self.close_connection else "")
            + "\r\n"
        )
        self.wfile.write(head.encode("latin-1") + body)

    def _send_error(self, exc: PlaidAPIError, rid: str) -> None:
        self._send(exc.status, _dumps(exc.to_dict(rid)))

    def _read_body(self) -> bytes:
        length = self.headers.get("Content-Length")
        if not length:
            return b""
        return self.rfile.read(int(length))

    @staticmethod
    def _parse(raw: bytes, *, allow_empty: bool = False) -> dict[str, Any]:
        if not raw.strip():
            if allow_empty:
                return {}
            raise PlaidAPIError("INVALID_BODY", "request body must be a JSON object")
        try:
            body = json.loads(raw)
        except ValueError as exc:
            raise PlaidAPIError("INVALID_BODY") from exc
        if not isinstance(body, dict):
            raise PlaidAPIError("INVALID_BODY", "request body must be a JSON object")
        return body

    def _credentials(self, body: dict[str, Any]) -> str:
        h = self.headers
        return self.server.emu.check_credentials(
            h.get("PLAID-CLIENT-ID") or body.get("client_id"),
            h.get("PLAID-SECRET") or body.get("secret"),
        )

    def _dispatch(self, method: str) -> None:
        path = self.path.split("?", 1)[0]
        rid = new_request_id()
        try:
            raw = self._read_body()
            if path in OAUTH_PATHS:
                self._oauth(method, path, raw)
            elif path in ASSETS or path.startswith("/link/api/"):
                self._link(method, path, raw, rid)
            elif path.startswith("/emulator/"):
                self._control(method, path, raw, rid)
            else:
                self._api(method, path, raw, rid)
        except PlaidAPIError as exc:
            self._send_error(exc, rid)
        except (ConnectionError, BrokenPipeError):
            self.close_connection = True
        except Exception:
            log.exception("internal error on %s %s", method, path)
            self._send_error(PlaidAPIError("INTERNAL_SERVER_ERROR"), rid)

    # -- Plaid API -----------------------------------------------------------
    def _api(self, method: str, path: str, raw: bytes, rid: str) -> None:
        emu = self.server.emu
        emu.count(path)
        handler = api.ROUTES.get(path)
        if handler is None or method != "POST":
            raise PlaidAPIError("NOT_FOUND", f"no such endpoint: {method} {path}")
        body = self._parse(raw)
        client_id = self._credentials(body)
        state = emu.state
        token = body.get("access_token")
        item = state.by_access_token.get(token) if isinstance(token, str) else None
        item_id = item.item_id if item is not None else None
        delay = faults.latency_seconds(state, path)
        if delay > 0:
            time.sleep(delay)  # sleeps only this connection's thread
        fault = faults.match(state, path, item_id)
        if fault is not None and fault not in faults.SPECIAL:
            raise PlaidAPIError(fault)
        emu.limiter.check(state.settings.rate_limits, path, client_id, item_id, state.now())
        reply = handler(emu, body)
        reply["request_id"] = rid
        if fault == "MALFORMED":
            keys = [k for k in reply if k != "request_id"]
            del reply[keys[0] if keys else "request_id"]
        data = _dumps(reply)
        if fault == "TRUNCATED":
            data = data[: max(1, len(data) // 2)]
        self._send(200, data)

    # -- control endpoint ----------------------------------------------------
    def _control(self, method: str, path: str, raw: bytes, rid: str) -> None:
        body = self._parse(raw, allow_empty=True)
        self._credentials(body)
        reply = control.handle(self.server.emu, method, path, body)
        reply["request_id"] = rid
        self._send(200, _dumps(reply))

    # -- Link stand-in -------------------------------------------------------
    def _link(self, method: str, path: str, raw: bytes, rid: str) -> None:
        if method == "GET" and path in ASSETS:
            extra = "Cache-Control: no-cache\r\n"
            if path == "/link/frame":
                extra += (
                    f"Content-Security-Policy: {FRAME_CSP}\r\n"
                    "Referrer-Policy: no-referrer\r\nX-Content-Type-Options: nosniff\r\n"
                )
            elif path.endswith(".js"):
                extra += "Access-Control-Allow-Origin: *\r\n"
            self._send(200, self.server.assets[path], ASSETS[path][1], extra)
            return
        step = path[len("/link/api/") :] if path.startswith("/link/api/") else ""
        if method != "POST" or step not in ("session", "login", "oauth", "finish"):
            raise PlaidAPIError("NOT_FOUND", f"no such endpoint: {method} {path}")
        self.server.emu.count(path)
        body = self._parse(raw)
        reply = getattr(self.server.link, step)(body)
        reply["request_id"] = rid
        self._send(200, _dumps(reply))

    # -- OAuth institution ("the bank's site") --------------------------------
    def _oauth(self, method: str, path: str, raw: bytes) -> None:
        link = self.server.link
        if method == "GET" and path == "/link/oauth":
            query = parse_qs(self.path.split("?", 1)[1] if "?" in self.path else "")
            state, lt = link.oauth_state((query.get("oauth_state_id") or [""])[0])
            page = OAUTH_PAGE.format(
                bank=html.escape(INSTITUTIONS[state.institution_id].name),
                client=html.escape(lt.client_name),
                state=html.escape(state.state_id),
            ).encode()
            extra = (
                f"Cache-Control: no-store\r\nContent-Security-Policy: {OAUTH_CSP}\r\n"
                "Referrer-Policy: no-referrer\r\nX-Content-Type-Options: nosniff\r\n"
            )
            self._send(200, page, "text/html; charset=utf-8", extra)
            return
        if method == "POST" and path == "/link/oauth/authorize":
            form = parse_qs(raw.decode("utf-8", "replace"))
            target = link.oauth_authorize((form.get("oauth_state_id") or [""])[0])
            self._send(303, b"", "text/plain", f"Location: {target}\r\nCache-Control: no-store\r\n")
            return
        raise PlaidAPIError("NOT_FOUND", f"no such endpoint: {method} {path}")
