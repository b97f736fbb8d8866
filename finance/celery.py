"""The Celery app `finance`: `celery -A finance worker`, `celery -A finance beat`.

Configuration comes from Django settings under the `CELERY_` prefix (see finance/settings.py).
"""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "finance.settings")

app = Celery("finance")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
