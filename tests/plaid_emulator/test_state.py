"""Balance drift (seeded, clock-driven) and persistence across restarts."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from plaid.model.accounts_balance_get_request import AccountsBalanceGetRequest

from plaid_emulator import start_emulator
from plaid_emulator.accounts import Account
from plaid_emulator.drift import balances_at

from .conftest import link_item, make_client, raw_post


def currents(url: str, at: str) -> list[float]:
    reply = make_client(url).accounts_balance_get(AccountsBalanceGetRequest(access_token=at))
    return [a.balances.current for a in reply.accounts]


def test_unfrozen_balances_drift_with_the_clock() -> None:
    emu = start_emulator(port=0, seed=7)
    try:
        at, _ = link_item(make_client(emu.url), "ins_109508")
        before = currents(emu.url, at)
        raw_post(emu.url, "/emulator/clock", {"advance_seconds": 6 * 3600})
        after = currents(emu.url, at)
        assert before != after
        assert all(b > 0 for b in after)  # credit and loans stay owed (positive)
        raw_post(emu.url, "/emulator/freeze", {"frozen": True})
        assert currents(emu.url, at)[0] == 110
    finally:
        emu.stop()


def test_drift_is_deterministic_for_a_seed() -> None:
    acc = Account(
        "acc1", "C", None, "0000", "credit", "credit card", None, 410.0, 2000.0, "USD", None
    )
    t0 = 1_700_000_000.0
    series = [balances_at(acc, 3, t0 + h * 3600, t0, False) for h in range(0, 200, 7)]
    assert series == [balances_at(acc, 3, t0 + h * 3600, t0, False) for h in range(0, 200, 7)]
    assert series != [balances_at(acc, 4, t0 + h * 3600, t0, False) for h in range(0, 200, 7)]
    assert series[0] == (None, 410.0)
    assert all(cur is not None and 0 < cur < 410 * 1.2 for _, cur in series)
    assert balances_at(acc, 3, t0 + 99999, t0, True) == (None, 410.0)


@pytest.mark.slow
def test_state_survives_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    emu = start_emulator(port=0, state_path=str(path), freeze=True)
    try:
        at, item_id = link_item(make_client(emu.url), "ins_3")
        raw_post(
            emu.url,
            "/emulator/faults",
            {"error_code": "INSTITUTION_DOWN", "count": 1, "endpoint": "/item/get"},
        )
        kid = emu.emulator.signer.kid
    finally:
        emu.stop()
    saved = json.loads(path.read_text())
    assert saved["items"][0]["item_id"] == item_id
    emu = start_emulator(port=0, state_path=str(path))
    try:
        assert emu.emulator.signer.kid == kid
        assert currents(emu.url, at)[:2] == [110, 210]
        assert len(emu.state.faults) == 1
    finally:
        emu.stop()


@pytest.mark.slow
def test_cli_help_and_process(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "plaid_emulator", "--help"],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parents[2],
    ).stdout
    for flag in (
        "--host",
        "--port",
        "--state",
        "--freeze",
        "--rate-limits",
        "--client-id",
        "--secret",
        "--seed",
        "--latency",
        "--fault",
    ):
        assert flag in out


def test_drift_at_start_up_undoes_a_stored_freeze(tmp_path: Path) -> None:
    """`make run` passes --freeze, or --drift when DEMO_BALANCE_DRIFT is true."""
    path = tmp_path / "state.json"
    emu = start_emulator(port=0, state_path=str(path), freeze=True)
    emu.stop()
    emu = start_emulator(port=0, state_path=str(path))
    try:
        assert emu.state.settings.frozen  # kept from the state file without a flag
    finally:
        emu.stop()
    emu = start_emulator(port=0, state_path=str(path), drift=True)
    try:
        assert not emu.state.settings.frozen
    finally:
        emu.stop()
