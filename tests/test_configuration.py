"""The documented configuration matches what the code reads."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def variables_read_by(path: Path) -> set[str]:
    text = path.read_text()
    names = set(re.findall(r'env\.\w+\(\s*"([A-Z][A-Z0-9_]+)"', text))
    names |= set(re.findall(r'env\.get\(\s*"([A-Z][A-Z0-9_]+)"', text))
    return names


def test_env_example_documents_every_variable():
    documented = set(re.findall(r"^([A-Z][A-Z0-9_]+)=", (ROOT / ".env.example").read_text(), re.M))
    read = variables_read_by(ROOT / "finance" / "settings.py")
    read |= variables_read_by(ROOT / "finance" / "stack.py")
    read -= {"DJANGO_SETTINGS_MODULE"}
    assert read, "the pattern found no variables: the test would pass vacuously"
    assert read - documented == set()


def test_no_secrets_or_env_file_committed():
    ignored = (ROOT / ".gitignore").read_text().split()
    assert ".env" in ignored


def test_make_run_starts_the_worker_the_procfile_runs():
    from finance import stack

    def pool_and_concurrency(command: str) -> tuple[str, str]:
        pool = re.search(r"--pool (\S+)", command)
        concurrency = re.search(r"--concurrency (\S+)", command)
        assert pool and concurrency, command
        return pool[1], concurrency[1]

    procfile = dict(
        line.split(":", 1) for line in (ROOT / "Procfile").read_text().splitlines() if line
    )
    assert pool_and_concurrency(stack.WORKER_ARGS) == pool_and_concurrency(procfile["worker"])
    assert pool_and_concurrency(stack.WORKER_ARGS) == ("threads", "${CELERY_CONCURRENCY:-96}")
