"""Offline Plaid API emulator (stdlib + ``cryptography``): see README.md in this package.

Start it from Python with ``start_emulator(...)`` or from a shell with
``python -m plaid_emulator --port 8765``.
"""

from .app import EmulatorServer, start_emulator
from .core import DEFAULT_CLIENT_ID, DEFAULT_SECRET, Config

__all__ = ["DEFAULT_CLIENT_ID", "DEFAULT_SECRET", "Config", "EmulatorServer", "start_emulator"]
