"""The Celery app `finance`: `celery -A finance worker`, `celery -A finance beat`.

Configuration comes from Django settings under the `CELERY_` prefix (see finance/settings.py).
"""

import os
from typing import Any

from celery import Celery
from celery.signals import task_postrun, task_prerun

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "finance.settings")

app = Celery("finance")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@task_prerun.connect
def _log_task_id(task_id: str, **kwargs: Any) -> None:
    """Put the task id on every log record the task writes (see finance/logs.py)."""
    from finance.logs import request_id

    request_id.set(task_id)


@task_postrun.connect
def _clear_task_id(**kwargs: Any) -> None:
    from finance.logs import request_id

    request_id.set("")
