"""The gpu queue (config/celery.py routes ``workers.runs.*`` there): one run per task, one task per GPU.

Run a worker per GPU with ``-c 1`` and ``CUDA_VISIBLE_DEVICES`` set, or one worker with ``-c N`` and
``VIDPREF_GPUS=0,1,...``: each pool process then takes one free GPU of that list for its lifetime (a lock
file per GPU, released by the kernel when the process dies, so a replaced process finds its GPU free).
"""

import fcntl
import os
import tempfile
from pathlib import Path

from celery import shared_task
from celery.signals import worker_process_init
from django.conf import settings

from rewardlab.services import pipelines, runner

# Training runs for hours: the project-wide task time limits (minutes) do not apply to them.
RUN_TIME_LIMIT = settings.RUN_TIME_LIMIT_SECONDS

_gpu_lock = None  # held open for the process's lifetime


@worker_process_init.connect
def _take_a_gpu(**_) -> None:
    global _gpu_lock
    gpus = settings.VIDPREF_GPUS
    for gpu in gpus:
        handle = open(Path(tempfile.gettempdir()) / f"vidpref-gpu-{gpu}.lock", "w")  # held open until the process exits
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            continue
        _gpu_lock = handle
        os.environ["CUDA_VISIBLE_DEVICES"] = gpu  # before torch is first imported in this process
        return
    if gpus:
        raise RuntimeError(f"every GPU in VIDPREF_GPUS={','.join(gpus)} is taken; run at most {len(gpus)} pool processes")


@shared_task(acks_late=True, reject_on_worker_lost=True, soft_time_limit=RUN_TIME_LIMIT, time_limit=RUN_TIME_LIMIT + 300)
def execute_run(run_id: int) -> None:
    runner.execute_run(run_id=run_id)
    pipelines.pipeline_step_ended(run_id=run_id)  # a pipeline's step: its next one starts now, not at the next tick
