"""The Celery app's worker set-up."""

from __future__ import annotations

import sys

from celery.signals import worker_init

from finance import celery


def test_worker_threads_hand_the_gil_over_quickly(settings):
    settings.CELERY_WORKER_SWITCH_INTERVAL = 0.0007
    default = sys.getswitchinterval()
    try:
        celery._short_gil_switch_interval()
        assert sys.getswitchinterval() == 0.0007
    finally:
        sys.setswitchinterval(default)
    receivers = [ref() for _, ref in worker_init.receivers]
    assert celery._short_gil_switch_interval in receivers  # runs as every worker starts


def test_worker_caps_mallocs_arenas_unless_the_operator_did(monkeypatch):
    # Setting the cap again to the same value is harmless in this test process.
    monkeypatch.delenv("MALLOC_ARENA_MAX", raising=False)
    assert celery._few_malloc_arenas() is sys.platform.startswith("linux")
    monkeypatch.setenv("MALLOC_ARENA_MAX", "4")
    assert celery._few_malloc_arenas() is False  # glibc read the operator's at start
    receivers = [ref() for _, ref in worker_init.receivers]
    assert celery._few_malloc_arenas in receivers  # runs as every worker starts
