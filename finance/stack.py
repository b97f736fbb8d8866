"""`python -m finance.stack` (what `make run` runs): the whole app on one machine.

Writes a `.env` with fresh keys when there is none, starts the offline Plaid emulator
when no Plaid credentials are set, falls back to a file-based Celery broker when Redis
is unreachable, migrates, sets up the demo user, then runs web + worker + beat until
Ctrl-C.

What it decides for its processes (the emulator's keys and URL, the file broker) it also
writes to `.env`, in a block of its own, for as long as it runs: `manage.py` commands run
beside it (`refresh_balances --sync`, `item_refresh`, `link_sandbox_item`) then see the
same configuration. The block is removed when it stops, and a block left by a run that
was killed is ignored and replaced at the next start.
"""

from __future__ import annotations

import contextlib
import io
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

BASE_DIR = Path(__file__).resolve().parent.parent
ENV_FILE = BASE_DIR / ".env"
EMULATOR_CLIENT_ID = "emulator-client-id"
EMULATOR_SECRET = "emulator-secret"  # noqa: S105 (the offline emulator's fixed test secret)
# The Procfile's worker: a thread pool (Plaid calls wait on the network), CELERY_CONCURRENCY
# threads, 96 unless set (in `.env` or the environment; the shell expands it): enough to
# keep ~80 real-time calls in flight (Plaid answers in ~4 s on average; 1,200 a minute).
WORKER_ARGS = (
    "-m celery -A finance worker -l info --pool threads --concurrency ${CELERY_CONCURRENCY:-96}"
)


# How long Ctrl-C waits for each process to stop before it is killed (see main()).
STOP_WINDOW_SECONDS = 20
# What honcho's Manager reports as its exit code when SIGINT or SIGTERM stopped it.
SIGINT_EXIT = 130
SIGTERM_EXIT = 143

# The block of `.env` written while `make run` runs (see the module's docstring).
RUN_BLOCK_BEGIN = "# >>> Written by `make run` while it runs (removed when it stops); do not edit."
RUN_BLOCK_END = "# <<< End of `make run`'s settings."


def say(message: str) -> None:
    print(f"==> {message}", flush=True)


def write_env_file() -> None:
    """Write `.env` with fresh SECRET_KEY and FIELD_ENCRYPTION_KEY for local development."""
    import secrets

    from cryptography.fernet import Fernet

    ENV_FILE.write_text(
        "# Written by `make run` for local development; see .env.example for every variable.\n"
        "DEBUG=true\n"
        f"SECRET_KEY={secrets.token_urlsafe(50)}\n"
        f"FIELD_ENCRYPTION_KEY={Fernet.generate_key().decode()}\n"
        "# Seconds between scheduled refreshes (short for the demo; 3600 if unset).\n"
        "BALANCE_REFRESH_INTERVAL=300\n"
    )
    ENV_FILE.chmod(0o600)
    say(f"Wrote {ENV_FILE.name} with fresh keys (keep it: it holds the key to stored tokens).")


def without_run_block(text: str) -> str:
    """Return `.env`'s text without the block `make run` writes while it runs."""
    kept: list[str] = []
    inside = False
    for line in text.splitlines(keepends=True):
        if line.rstrip("\n") == RUN_BLOCK_BEGIN:
            inside = True
        elif inside and line.rstrip("\n") == RUN_BLOCK_END:
            inside = False
        elif not inside:
            kept.append(line)
    return "".join(kept)


def env_file_set_run_settings(values: dict[str, str]) -> None:
    """Write `values` to `.env` as `make run`'s block (none: remove the block).

    The rest of the file is kept as it is. `.env` stays readable by its owner only.
    """
    text = without_run_block(ENV_FILE.read_text()) if ENV_FILE.exists() else ""
    if values:
        if text and not text.endswith("\n"):
            text += "\n"
        lines = [RUN_BLOCK_BEGIN, *(f"{name}={value}" for name, value in values.items())]
        text += "\n".join([*lines, RUN_BLOCK_END]) + "\n"
    ENV_FILE.write_text(text)
    ENV_FILE.chmod(0o600)


def emulator_settings(emulator_url: str, env: dict[str, str]) -> dict[str, str]:
    """Return the settings that point the app at the offline emulator at `emulator_url`.

    `env`: the configuration so far; a Link script URL set there is kept.
    """
    values = {
        "PLAID_CLIENT_ID": EMULATOR_CLIENT_ID,
        "PLAID_SECRET": EMULATOR_SECRET,
        "PLAID_ENV": "sandbox",
        "PLAID_HOST": emulator_url,
    }
    if not env.get("PLAID_LINK_SCRIPT_URL"):
        values["PLAID_LINK_SCRIPT_URL"] = f"{emulator_url}/link/v2/stable/link-initialize.js"
    return values


def emulator_balances_flag(env: dict[str, str]) -> str:
    """Return the emulator's flag for the demo's balances: held still unless
    DEMO_BALANCE_DRIFT is true (then they move a little at each refresh, as real ones do)."""
    drift = env.get("DEMO_BALANCE_DRIFT", "").strip().lower() in ("1", "true", "yes", "on")
    return "--drift" if drift else "--freeze"


def port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def wait_for_port(host: str, port: int, process: subprocess.Popen[bytes], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            sys.exit(f"The emulator exited with code {process.returncode}; see its output above.")
        if port_open(host, port):
            return
        time.sleep(0.1)
    sys.exit(f"The emulator did not listen on {host}:{port} within {seconds:.0f} s.")


def where_to_go(port: int) -> list[str]:
    """Return what `make run` prints once everything is up: the app and the API docs."""
    base = f"http://127.0.0.1:{port}"
    return [
        f"Open {base}/ and log in with the demo credentials above. Ctrl-C stops everything.",
        f"API docs: {base}/api/v1/docs/ (signed in); tokens in Settings → API tokens, or "
        "`.venv/bin/python manage.py api_token_create demo --name NAME`.",
    ]


def say_when_listening(
    port: int, lines: list[str], stopped: threading.Event, seconds: float = 120
) -> None:
    """Print `lines` once something listens on 127.0.0.1:`port` (the web server).

    Says so instead if nothing listens within `seconds`; prints nothing once `stopped` is set.
    """
    deadline = time.monotonic() + seconds
    while not stopped.is_set():
        if port_open("127.0.0.1", port):
            for line in lines:
                say(line)
            return
        if time.monotonic() > deadline:
            say(f"The web server is not listening on port {port} yet; see its output above.")
            return
        stopped.wait(0.2)


@contextlib.contextmanager
def terminal_ctrl_c_to_this_run() -> Iterator[None]:
    """Have the terminal's Ctrl-C reach this run and its processes, not `make` too.

    `make run` starts us in make's process group, the terminal's foreground group: a
    Ctrl-C went to make as well, which printed "*** [Makefile: run] Interrupt" (or
    "Error 130") and failed however cleanly we stopped. As a shell does for a job, move
    into a process group of our own (our processes inherit it), make it the terminal's
    foreground group, and give the terminal back to the group that had it when we end.
    Without a terminal, or when we lead the foreground group already (run from a shell:
    `python -m finance.stack`), change nothing.
    """
    try:
        fd = sys.stdin.fileno()
        foreground = os.tcgetpgrp(fd) if os.isatty(fd) else None
    except (OSError, ValueError):
        foreground = None
    if foreground is None or foreground != os.getpgrp() or os.getpid() == os.getpgrp():
        yield
        return
    os.setpgid(0, 0)
    try:
        _terminal_foreground(fd, os.getpgrp())
    except OSError:
        os.setpgid(0, foreground)  # back in make's group: Ctrl-C reaches both, as before
        yield
        return
    try:
        yield
    finally:
        with contextlib.suppress(OSError):
            _terminal_foreground(fd, foreground)


def _terminal_foreground(fd: int, group: int) -> None:
    # A process outside the foreground group that sets it is sent SIGTTOU: ignore it for
    # the call only (an ignored signal stays ignored in the processes started after).
    previous = signal.signal(signal.SIGTTOU, signal.SIG_IGN)
    try:
        os.tcsetpgrp(fd, group)
    finally:
        signal.signal(signal.SIGTTOU, previous)


def main() -> None:
    with terminal_ctrl_c_to_this_run():
        run()


def run() -> None:
    if not ENV_FILE.exists():
        write_env_file()
    import environ

    # Fills os.environ (real variables win), without a block left by a run that was killed.
    environ.Env.read_env(io.StringIO(without_run_block(ENV_FILE.read_text())))
    env = os.environ.copy()
    env.setdefault("DJANGO_SETTINGS_MODULE", "finance.settings")
    data_dir = Path(env.get("DATA_DIR") or BASE_DIR / "var")
    data_dir.mkdir(parents=True, exist_ok=True)
    python = sys.executable
    port = int(env.get("PORT", "8000"))
    if port_open("127.0.0.1", port):
        sys.exit(f"Port {port} is already in use. Stop what runs there or set PORT=another.")

    # What this run decides for its processes, written to `.env` for the commands beside it.
    run_settings: dict[str, str] = {}
    emulator: subprocess.Popen[bytes] | None = None
    if not env.get("PLAID_CLIENT_ID"):
        emu_port = int(env.get("PLAID_EMULATOR_PORT", "8765"))
        if port_open("127.0.0.1", emu_port):
            sys.exit(f"Port {emu_port} is in use; set PLAID_EMULATOR_PORT to a free port.")
        say(f"No PLAID_CLIENT_ID: starting the offline Plaid emulator on 127.0.0.1:{emu_port}.")
        emulator = subprocess.Popen(  # noqa: S603
            [
                python,
                "-m",
                "plaid_emulator",
                "--host",
                "127.0.0.1",
                "--port",
                str(emu_port),
                "--state",
                str(data_dir / "emulator-state.json"),
                emulator_balances_flag(env),
            ],
            cwd=BASE_DIR,
        )
        wait_for_port("127.0.0.1", emu_port, emulator, 15)
        run_settings.update(emulator_settings(f"http://127.0.0.1:{emu_port}", env))

    broker = env.get("CELERY_BROKER_URL", "redis://127.0.0.1:6379/0")
    parts = urlsplit(broker)
    if parts.scheme in ("redis", "rediss") and not port_open(
        parts.hostname or "127.0.0.1", parts.port or 6379
    ):
        run_settings["CELERY_BROKER_URL"] = "filesystem://"
        say(
            f"Redis is not reachable at {parts.hostname}:{parts.port or 6379}: using a file-based "
            f"Celery broker under {data_dir / 'celery-broker'} instead (fine for one machine)."
        )
    else:
        say(f"Celery broker: {parts.scheme}://{parts.hostname}:{parts.port or ''}")

    env.update(run_settings)
    try:
        # The commands beside `make run` (and its own processes) read this too.
        env_file_set_run_settings(run_settings)
        if run_settings:
            say(f"Wrote this run's settings ({', '.join(run_settings)}) to {ENV_FILE.name}.")
        manage = [python, str(BASE_DIR / "manage.py")]
        subprocess.run([*manage, "migrate", "--noinput", "-v", "0"], env=env, check=True)  # noqa: S603
        subprocess.run([*manage, "demo_setup"], env=env, check=True)  # noqa: S603

        import honcho.manager
        from honcho.manager import Manager
        from honcho.printer import Printer

        # Seconds between Ctrl-C's SIGTERM and honcho's SIGKILL (its own default: 5). A
        # worker's warm shutdown lets the refresh it runs finish (tasks are acknowledged at
        # the end: a killed one is lost on the file broker) and its loop looks for the stop
        # every 2 s: on a busy machine that took over 5 s and the worker was SIGKILLed.
        honcho.manager.KILL_WAIT = STOP_WINDOW_SECONDS

        manager = Manager(Printer(sys.stdout))
        manager.add_process(
            "web", f"{python} manage.py runserver 127.0.0.1:{port}", env=env, cwd=str(BASE_DIR)
        )
        manager.add_process(
            "worker",
            f"{python} {WORKER_ARGS}",
            env=env,
            cwd=str(BASE_DIR),
        )
        manager.add_process(
            "beat", f"{python} -m celery -A finance beat -l info", env=env, cwd=str(BASE_DIR)
        )
        # "Open ..." is printed when the server listens, not before (runserver takes seconds).
        stopped = threading.Event()
        threading.Thread(
            target=say_when_listening, args=(port, where_to_go(port), stopped), daemon=True
        ).start()
        manager.loop()
        stopped.set()
        code = manager.returncode or 0
        if code in (SIGINT_EXIT, SIGTERM_EXIT):
            # Ctrl-C (or a SIGTERM) is how one stops `make run`: a clean, quiet exit, not
            # make's "Error 130". (honcho reports these codes when a signal stopped it.)
            say("Stopped.")
            code = 0
    except subprocess.CalledProcessError as exc:
        code = exc.returncode or 1
    except KeyboardInterrupt:
        code = 0
    finally:
        if run_settings:
            env_file_set_run_settings({})
        if emulator is not None:
            emulator.terminate()
            emulator.wait(10)
    sys.exit(code)


if __name__ == "__main__":
    main()
