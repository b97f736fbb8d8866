"""The Celery app `finance`: `celery -A finance worker`, `celery -A finance beat`.

Configuration comes from Django settings under the `CELERY_` prefix (see finance/settings.py).
"""

import os
import sys
from typing import Any

from celery import Celery
from celery.signals import beat_init, task_postrun, task_prerun, worker_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "finance.settings")

app = Celery("finance")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_init.connect
def _short_gil_switch_interval(**kwargs: Any) -> None:
    """Hand the GIL over every CELERY_WORKER_SWITCH_INTERVAL seconds (Python's default: 5 ms).

    A thread-pool worker's threads mostly wait on Plaid, PostgreSQL and Redis; each reply
    wakes a thread that must then get the GIL from whichever thread is computing. With the
    default interval, a refresh's dozen round trips each waited up to 5 ms for it: about
    90 ms per refresh beside a 250 ms Plaid call (bench/refresh.py, target 3).
    """
    from django.conf import settings

    sys.setswitchinterval(settings.CELERY_WORKER_SWITCH_INTERVAL)


# glibc's mallopt parameter M_ARENA_MAX (malloc.h).
M_ARENA_MAX = -8
WORKER_MALLOC_ARENAS = 2


@worker_init.connect
def _few_malloc_arenas(**kwargs: Any) -> bool:
    """Cap glibc's malloc arenas at WORKER_MALLOC_ARENAS before the pool's threads start;
    return whether the cap was set.

    glibc gives threads up to 8 arenas per core, each keeping its own freed memory: with
    the threads pool's 96 threads that alone held about 60 MiB of the worker's RSS (212
    MiB against 150 MiB with two arenas, bench/production.py), for no CPU difference that
    bench could measure (Python's own allocator serves most objects without malloc). An
    operator's MALLOC_ARENA_MAX (read by glibc at start) wins; nothing is done off glibc.
    """
    if os.environ.get("MALLOC_ARENA_MAX") or not sys.platform.startswith("linux"):
        return False
    import ctypes

    try:
        mallopt = ctypes.CDLL(None).mallopt  # absent from musl (Alpine)
    except (OSError, AttributeError):
        return False
    return bool(mallopt(M_ARENA_MAX, WORKER_MALLOC_ARENAS))


@worker_init.connect
def _verify_encryption_keys(**kwargs: Any) -> None:
    """Refuse to start a worker when stored access tokens cannot be decrypted.

    Celery logs and swallows exceptions from signal handlers: SystemExit stops the worker.
    """
    import django
    from django.core.exceptions import ImproperlyConfigured
    from django.db import connections

    django.setup()  # idempotent; Celery's Django fixup may not have run yet
    from finance.security.checks import verify_encryption_keys

    try:
        verify_encryption_keys()
    except ImproperlyConfigured as exc:
        raise SystemExit(f"Refusing to start the worker: {exc}") from exc
    finally:
        # The prefork pool forks after this: children must not share this connection.
        connections.close_all()


@task_prerun.connect
def _log_task_id(task_id: str, **kwargs: Any) -> None:
    """Put the task id on every log record the task writes (see finance/logs.py)."""
    from finance.logs import request_id

    request_id.set(task_id)


@task_postrun.connect
def _clear_task_id(**kwargs: Any) -> None:
    from finance.logs import request_id

    request_id.set("")


@beat_init.connect
def _record_beat_start(**kwargs: Any) -> None:
    """Record beat's start: /healthz/ counts it until the first fan-out (one interval on).

    A database that is down must not stop beat: the failure is logged, and /healthz/
    reports the database anyway.
    """
    import logging

    import django
    from django.db import DatabaseError

    django.setup()  # idempotent; beat may not have set Django up yet
    from balances.models import BeatRun
    from balances.services.beat import beat_run_record

    try:
        beat_run_record(task=BeatRun.BEAT_STARTED)
    except DatabaseError:
        logging.getLogger(__name__).exception("Could not record beat's start")
