"""Run the emulator from the command line: ``python -m plaid_emulator --port 8765``."""

from __future__ import annotations

import argparse
import contextlib
import logging
import signal
import sys

from .app import EmulatorServer
from .core import DEFAULT_CLIENT_ID, DEFAULT_SECRET, Config
from .errors import CATALOGUE
from .faults import SPECIAL, parse_latency


def build_parser() -> argparse.ArgumentParser:
    """Return the CLI's argument parser."""
    p = argparse.ArgumentParser(
        prog="python -m plaid_emulator",
        description="Offline Plaid API emulator (sandbox-like). Control endpoint: /emulator/...",
    )
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8765, help="TCP port (default 8765; 0 = any)")
    p.add_argument(
        "--state", metavar="PATH", help="JSON state file; survives restarts (default: in memory)"
    )
    p.add_argument("--freeze", action="store_true", help="hold every balance at its initial value")
    p.add_argument(
        "--drift", action="store_true", help="let balances drift (undoes a stored --freeze)"
    )
    p.add_argument(
        "--rate-limits",
        choices=("off", "sandbox", "production"),
        default="off",
        help="enforce Plaid's per-minute rate limits (default off)",
    )
    p.add_argument("--client-id", default=DEFAULT_CLIENT_ID, help="accepted client id")
    p.add_argument("--secret", default=DEFAULT_SECRET, help="accepted secret")
    p.add_argument("--seed", type=int, default=0, help="seed of the balance drift (default 0)")
    p.add_argument(
        "--latency",
        default="off",
        metavar="SPEC",
        help="injected latency: off, fixed:250ms or realistic (lognormal, median ~3 s)",
    )
    p.add_argument(
        "--fault",
        action="append",
        default=[],
        metavar="CODE[:COUNT]",
        help="inject a Plaid error globally, e.g. INSTITUTION_DOWN or ITEM_LOGIN_REQUIRED:3; "
        "also MALFORMED and TRUNCATED (repeatable)",
    )
    p.add_argument(
        "--balance-webhooks",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="send TRANSACTIONS/DEFAULT_UPDATE to every Item this often (default 0 = never)",
    )
    p.add_argument("--verbose", action="store_true", help="log every request")
    return p


def _raise_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    """Parse arguments and serve until interrupted."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
    )
    try:
        parse_latency(args.latency)
    except ValueError as exc:
        print(exc, file=sys.stderr)
        return 2
    for spec in args.fault:
        code = spec.partition(":")[0]
        if code not in CATALOGUE and code not in SPECIAL:
            print(f"unknown fault code {code!r}", file=sys.stderr)
            return 2
    config = Config(
        host=args.host,
        port=args.port,
        state_path=args.state,
        freeze=args.freeze,
        drift=args.drift and not args.freeze,
        rate_limits=args.rate_limits,
        client_id=args.client_id,
        secret=args.secret,
        seed=args.seed,
        latency=args.latency,
        faults=tuple(args.fault),
        balance_webhook_interval=args.balance_webhooks,
    )
    server = EmulatorServer(config)
    signal.signal(signal.SIGTERM, _raise_interrupt)  # stop cleanly: flush the state file
    logging.getLogger("plaid_emulator").info("Plaid emulator listening on %s", server.url)
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
