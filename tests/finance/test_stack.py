"""`finance.stack` (`make run`): what it prints once the app is up."""

from __future__ import annotations

from django.test import Client
from django.urls import resolve

from finance import stack


def test_make_run_says_where_the_app_and_the_api_docs_are() -> None:
    lines = stack.where_to_go(8123)
    assert lines[0].startswith("Open http://127.0.0.1:8123/ ")
    (docs,) = [line for line in lines if line.startswith("API docs: ")]
    url = docs.split()[2]
    assert url == "http://127.0.0.1:8123/api/v1/docs/"
    assert resolve("/api/v1/docs/").url_name == "api_docs"  # the URL it names exists
    assert Client().get("/api/v1/docs/").status_code == 302  # (a login first)


def read_env_file(path) -> dict[str, str]:
    """Return the variables a process started with `path` as its .env would see."""
    import environ

    seen: dict[str, str] = {}
    original = environ.Env.ENVIRON
    environ.Env.ENVIRON = seen  # read_env fills this instead of os.environ
    try:
        environ.Env.read_env(path)
    finally:
        environ.Env.ENVIRON = original
    return seen


def test_make_run_writes_the_emulators_settings_to_env_for_the_commands(tmp_path, monkeypatch):
    env_file = tmp_path / ".env"
    env_file.write_text("SECRET_KEY=mine\nPLAID_CLIENT_ID=\nBALANCE_REFRESH_INTERVAL=300")
    monkeypatch.setattr(stack, "ENV_FILE", env_file)

    given = stack.emulator_settings("http://127.0.0.1:8765", {})
    stack.env_file_set_run_settings({**given, "CELERY_BROKER_URL": "filesystem://"})

    seen = read_env_file(env_file)
    # What `make run`'s processes get is what a command run beside it reads from .env.
    assert {name: seen[name] for name in given} == given
    assert given == {
        "PLAID_CLIENT_ID": stack.EMULATOR_CLIENT_ID,
        "PLAID_SECRET": stack.EMULATOR_SECRET,
        "PLAID_ENV": "sandbox",
        "PLAID_HOST": "http://127.0.0.1:8765",
        "PLAID_LINK_SCRIPT_URL": "http://127.0.0.1:8765/link/v2/stable/link-initialize.js",
    }
    assert seen["CELERY_BROKER_URL"] == "filesystem://"
    assert (seen["SECRET_KEY"], seen["BALANCE_REFRESH_INTERVAL"]) == ("mine", "300")
    assert env_file.stat().st_mode & 0o077 == 0  # the file holds secrets
    # Every variable written is one the settings read.
    settings_source = (stack.BASE_DIR / "finance" / "settings.py").read_text()
    for name in seen:
        assert f'"{name}"' in settings_source, name

    # Stopped: the block is gone, the operator's lines are as they were.
    stack.env_file_set_run_settings({})
    assert (
        env_file.read_text() == "SECRET_KEY=mine\nPLAID_CLIENT_ID=\nBALANCE_REFRESH_INTERVAL=300\n"
    )
    assert read_env_file(env_file).get("PLAID_CLIENT_ID") == ""


def test_a_block_left_by_a_killed_run_is_ignored_and_replaced(tmp_path, monkeypatch):
    env_file = tmp_path / ".env"
    monkeypatch.setattr(stack, "ENV_FILE", env_file)
    env_file.write_text("SECRET_KEY=mine\n")
    stack.env_file_set_run_settings(stack.emulator_settings("http://127.0.0.1:9999", {}))
    text = env_file.read_text()
    # At the next start the old block does not count as the operator's Plaid keys...
    assert "PLAID_CLIENT_ID" not in stack.without_run_block(text)
    assert stack.without_run_block(text) == "SECRET_KEY=mine\n"
    # ...and the new run's block replaces it (one block, the new emulator's URL).
    stack.env_file_set_run_settings(stack.emulator_settings("http://127.0.0.1:8765", {}))
    text = env_file.read_text()
    assert text.count(stack.RUN_BLOCK_BEGIN) == 1
    assert read_env_file(env_file)["PLAID_HOST"] == "http://127.0.0.1:8765"


def test_an_operators_link_script_url_is_kept() -> None:
    given = stack.emulator_settings("http://127.0.0.1:8765", {"PLAID_LINK_SCRIPT_URL": "x"})
    assert "PLAID_LINK_SCRIPT_URL" not in given


def test_open_is_printed_once_the_server_listens(capsys) -> None:
    import socket
    import threading

    from tests.helpers import free_port

    port = free_port()
    stopped = threading.Event()
    thread = threading.Thread(
        target=stack.say_when_listening, args=(port, ["Open it"], stopped), daemon=True
    )
    thread.start()
    thread.join(0.8)
    assert thread.is_alive() and "Open it" not in capsys.readouterr().out  # not yet
    with socket.socket() as server:
        server.bind(("127.0.0.1", port))
        server.listen()
        thread.join(5)
    assert not thread.is_alive()
    assert capsys.readouterr().out == "==> Open it\n"


def test_make_run_installs_the_runtime_requirements_only(tmp_path) -> None:
    import subprocess

    venv = tmp_path / "venv"
    dry = subprocess.run(
        ["make", "-n", "run", f"VENV={venv}"],
        cwd=stack.BASE_DIR,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "-r requirements.txt" in dry
    assert "requirements-dev.txt" not in dry  # linters, mypy, a browser driver: `make test`
    tests = subprocess.run(
        ["make", "-n", "unit-sqlite", f"VENV={venv}"],
        cwd=stack.BASE_DIR,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "-r requirements-dev.txt" in tests


def test_the_demo_balances_hold_still_unless_drift_is_asked_for() -> None:
    assert stack.emulator_balances_flag({}) == "--freeze"  # README: net worth $44,110.00
    assert stack.emulator_balances_flag({"DEMO_BALANCE_DRIFT": "false"}) == "--freeze"
    assert stack.emulator_balances_flag({"DEMO_BALANCE_DRIFT": "true"}) == "--drift"
    assert "DEMO_BALANCE_DRIFT=" in (stack.BASE_DIR / ".env.example").read_text()
