"""No job left behind by a dead worker: the sweeper requeues videos, import jobs and dataset versions whose
worker stopped, fails them after JOB_MAX_REQUEUES, and leaves alone what is queued or held by a live worker."""

import json
import os
import signal
import subprocess
from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from annotation.models import DatasetVersion, ImportChunk, ImportJob, Membership, Project, Video
from annotation.services.stale_jobs import job_claim, stale_jobs_sweep
from tests.annotation.media_clips import slow_to_render
from tests.conftest import client_for, make_user, start_worker, stop_worker, wait_until

LONG_AGO = timedelta(hours=1)


def video(project: Project, n: int, **fields) -> Video:
    return Video.objects.create(project=project, prompt=project.prompts.get_or_create(text="p")[0], sha256=f"{n:064x}",
                                original=f"videos/{n}/original.mp4",
                                generation_model=project.generation_models.get_or_create(name="m")[0], **fields)


@pytest.mark.django_db
def test_rows_whose_worker_died_go_back_to_the_queue_and_the_rest_are_left_alone(
        project_world, django_capture_on_commit_callbacks):
    project, old = project_world["project"], timezone.now() - LONG_AGO
    dead = video(project, 1, heartbeat_at=old)
    queued, live, done = video(project, 2), video(project, 3, heartbeat_at=timezone.now()), video(project, 4, status="ready", heartbeat_at=old)
    job = ImportJob.objects.create(project=project, kind="manifest", source="m.jsonl", status="running", heartbeat_at=old)
    version = DatasetVersion.objects.create(project=project, number=1, formats=["jsonl"], status="running", heartbeat_at=old)

    with django_capture_on_commit_callbacks() as sent:
        swept = stale_jobs_sweep()

    assert swept == {"videos": {"requeued": [dead.pk], "failed": []}, "imports": {"requeued": [job.pk], "failed": []},
                     "dataset_versions": {"requeued": [version.pk], "failed": []}}
    assert len(sent) == 3  # one task sent again per row
    dead.refresh_from_db()
    assert (dead.status, dead.heartbeat_at, dead.requeues) == ("pending", None, 1)
    for untouched in (queued, live, done):
        before = untouched.heartbeat_at
        untouched.refresh_from_db()
        assert untouched.requeues == 0 and untouched.heartbeat_at == before
    assert stale_jobs_sweep() == {}  # nothing is stale until a worker claims the rows again


@pytest.mark.django_db
def test_a_row_put_back_too_often_fails_with_a_reason(project_world, settings):
    settings.JOB_MAX_REQUEUES = 2
    old = timezone.now() - LONG_AGO
    row = video(project_world["project"], 5, heartbeat_at=old, requeues=2)
    job = ImportJob.objects.create(project=row.project, kind="manifest", source="m.jsonl", status="queued",
                                   heartbeat_at=old, requeues=2)
    assert stale_jobs_sweep() == {"videos": {"requeued": [], "failed": [row.pk]},
                                  "imports": {"requeued": [], "failed": [job.pk]}}
    row.refresh_from_db()
    job.refresh_from_db()
    assert row.status == "failed" and row.error.startswith("Its worker stopped (no sign of life since ")
    assert "3 times; it is not retried again" in row.error
    assert job.status == "failed" and job.finished_at is not None and "not retried again" in job.error


@pytest.mark.django_db
def test_a_second_delivery_does_not_claim_a_row_a_live_worker_holds(project_world, settings):
    row = video(project_world["project"], 6)
    assert job_claim(Video, row.pk) and not job_claim(Video, row.pk)
    settings.JOB_STALE_AFTER_SECONDS = 0  # the holder's heartbeat is now stale: its worker is taken for dead
    assert job_claim(Video, row.pk)


@pytest.mark.django_db
def test_an_import_chunk_whose_worker_died_is_sent_again_then_fails_its_job(project_world, settings,
                                                                             django_capture_on_commit_callbacks):
    settings.JOB_MAX_REQUEUES = 1
    old = timezone.now() - LONG_AGO
    job = ImportJob.objects.create(project=project_world["project"], kind="manifest", source="m.jsonl",
                                   status="running")
    chunk = ImportChunk.objects.create(job=job, first_row=501, next_row=620, rows=json.dumps([{}] * 500),
                                       heartbeat_at=old)
    done = ImportChunk.objects.create(job=job, first_row=1, next_row=501, rows="[]", heartbeat_at=old,
                                      finished_at=timezone.now())

    with django_capture_on_commit_callbacks() as sent:
        assert stale_jobs_sweep() == {"import_chunks": {"requeued": [chunk.pk], "failed": []}}
    assert len(sent) == 1 and done.requeues == 0
    ImportChunk.objects.filter(pk=chunk.pk).update(heartbeat_at=old)  # claimed again, and that worker died too
    assert stale_jobs_sweep() == {"import_chunks": {"requeued": [], "failed": [chunk.pk]}}
    job.refresh_from_db()
    assert job.status == "failed" and job.error.startswith("Rows 620-1000: Its worker stopped")


def ffmpeg_in(group: int) -> bool:
    return subprocess.run(["pgrep", "-g", str(group), "ffmpeg"], capture_output=True).returncode == 0


@pytest.mark.slow  # Celery workers
@pytest.mark.django_db(transaction=True)
def test_a_video_whose_worker_is_killed_mid_render_is_processed_by_the_next_worker(django_db_blocker, settings,
                                                                                   monkeypatch):
    from workers.media import process_video_task

    settings.JOB_STALE_AFTER_SECONDS = 1
    project = Project.objects.create(name="kill -9")
    manager = make_user("kill-manager")
    Membership.objects.create(project=project, user=manager, role="manager")
    # The upload's task goes to a queue only the worker about to die reads (other tests' workers read "media").
    monkeypatch.setattr("annotation.services.ingest._enqueue_processing", lambda pk: transaction.on_commit(
        lambda: process_video_task.apply_async((pk,), queue="media-doomed")))
    with django_db_blocker.unblock():
        doomed = start_worker(queues="media-doomed", concurrency=1)
    successor = None
    try:
        with open(slow_to_render(), "rb") as f:
            response = client_for(manager).post(f"/api/v1/projects/{project.pk}/videos/",
                                                {"file": f, "prompt": "p", "model": "m"}, format="multipart")
        assert response.status_code == 201, response.json()
        row = Video.objects.get(pk=response.json()["id"])
        wait_until(lambda: ffmpeg_in(doomed.pid), timeout=60)  # claimed, probed, rendering
        os.killpg(doomed.pid, signal.SIGKILL)  # the worker, its pool process and its ffmpeg, all at once
        doomed.wait()
        row.refresh_from_db()
        assert row.status == "pending" and row.heartbeat_at is not None

        swept = wait_until(stale_jobs_sweep, timeout=30)  # once its heartbeat is older than the 1 s limit
        assert swept == {"videos": {"requeued": [row.pk], "failed": []}}
        with django_db_blocker.unblock():
            successor = start_worker(queues="media", concurrency=1, purge=False)
        wait_until(lambda: Video.objects.get(pk=row.pk).status != "pending", timeout=120)
        row.refresh_from_db()
        assert (row.status, row.requeues, row.heartbeat_at, row.error) == ("ready", 1, None, "")
    finally:
        for worker in (doomed, successor):
            if worker is not None:
                stop_worker(worker)
