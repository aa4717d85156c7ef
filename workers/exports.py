"""Tasks on the ``default`` queue: write a dataset version."""

import logging

from celery import shared_task

from annotation.models import DatasetVersion
from annotation.services.exports import dataset_version_export
from annotation.services.stale_jobs import job_claim, job_release
from config.errors import ServiceError
from rewardlab.services.pipelines import pipeline_step_ended

log = logging.getLogger(__name__)

# Copying the videos of a large version can take hours; the rows alone take seconds to minutes.
EXPORT_SOFT_LIMIT_S = 6 * 3600


@shared_task(name="workers.exports.export_dataset_version", soft_time_limit=EXPORT_SOFT_LIMIT_S,
             time_limit=EXPORT_SOFT_LIMIT_S + 300)
def export_dataset_version(version_id: int) -> None:
    if not job_claim(DatasetVersion, version_id):  # a live worker has it (annotation/services/stale_jobs.py)
        return
    try:
        dataset_version_export(version_id=version_id)
    except ServiceError as exc:  # recorded on the version as its error; nothing to retry
        log.info("dataset version %s not exported: %s", version_id, exc.message)
    finally:
        job_release(DatasetVersion, version_id)
        pipeline_step_ended(dataset_version_id=version_id)  # a pipeline's version: its reward run starts now
