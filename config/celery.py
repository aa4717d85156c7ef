"""The Celery app: queues ``default``, ``media`` (ffmpeg work), ``gpu`` (training, one task per device) and
``gpu-multi`` (runs that launch torchrun over several devices)."""

import os
import pkgutil

from celery import Celery
from kombu import Queue

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("vidpref")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.task_queues = [Queue("default"), Queue("media"), Queue("gpu"), Queue("gpu-multi")]
app.conf.task_default_queue = "default"


def _task_modules() -> list[str]:
    # Every module in workers/ holds tasks; importing them registers the tasks.
    import workers

    return [f"workers.{m.name}" for m in pkgutil.iter_modules(workers.__path__)]


app.autodiscover_tasks(_task_modules, related_name=None)
