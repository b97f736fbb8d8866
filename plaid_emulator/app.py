"""Run the emulator in a background thread: ``start_emulator`` and ``EmulatorServer``."""

from __future__ import annotations

import threading
from types import TracebackType
from typing import Any

from .core import DEFAULT_CLIENT_ID, DEFAULT_SECRET, Config, Emulator
from .server import EmulatorHTTPServer
from .store import State


class EmulatorServer:
    """Own one emulator and its HTTP server; ``start()`` serves from a daemon thread."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.emulator = Emulator(config)
        try:
            self.httpd = EmulatorHTTPServer((config.host, config.port), self.emulator)
        except OSError:
            self.emulator.close()
            raise
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        """Return the bound TCP port (useful with ``port=0``)."""
        return int(self.httpd.server_address[1])

    @property
    def url(self) -> str:
        """Return the base URL to give plaid-python as ``host``."""
        host = self.config.host
        if host in ("0.0.0.0", "", "::"):  # noqa: S104 - mapping a wildcard bind to a URL
            host = "127.0.0.1"
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.port}"

    @property
    def state(self) -> State:
        """Return the live state (Items, tokens, settings) for assertions."""
        return self.emulator.state

    def start(self) -> EmulatorServer:
        """Serve in a daemon thread and return self."""
        self._thread = threading.Thread(
            target=self.httpd.serve_forever,
            kwargs={"poll_interval": 0.1},
            name=f"plaid-emulator-{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Serve in the calling thread until interrupted (the CLI uses this)."""
        try:
            self.httpd.serve_forever(poll_interval=0.5)
        finally:
            self.stop()

    def stop(self) -> None:
        """Stop serving, close open connections, flush the state file. Idempotent."""
        if self._thread is not None:
            self.httpd.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self.httpd.close_connections()
        self.httpd.server_close()
        self.emulator.close()

    def __enter__(self) -> EmulatorServer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def start_emulator(
    host: str = "127.0.0.1",
    port: int = 0,
    state_path: str | None = None,
    freeze: bool = False,
    drift: bool = False,
    client_id: str = DEFAULT_CLIENT_ID,
    secret: str = DEFAULT_SECRET,
    rate_limits: str = "off",
    seed: int = 0,
    latency: str = "off",
    faults: tuple[str, ...] = (),
    balance_webhook_interval: float = 0.0,
    **extra: Any,
) -> EmulatorServer:
    """Start an emulator serving from a background thread and return it.

    ``port=0`` picks a free port (read ``.port`` / ``.url``). Call ``.stop()``.
    """
    if extra:
        raise TypeError(f"unknown options: {', '.join(sorted(extra))}")
    config = Config(
        host=host,
        port=port,
        state_path=None if state_path is None else str(state_path),
        freeze=freeze,
        drift=drift,
        rate_limits=rate_limits,
        client_id=client_id,
        secret=secret,
        seed=seed,
        latency=latency,
        faults=tuple(faults),
        balance_webhook_interval=balance_webhook_interval,
    )
    return EmulatorServer(config).start()
