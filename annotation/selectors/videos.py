"""Reads for videos, pairs and import jobs."""

from collections import defaultdict

from django.db.models import Count, QuerySet

from annotation.models import ImportJob, Pair, Project, Video
from config.errors import NotFound


def videos_for_manager(*, project: Project, status: str | None = None) -> QuerySet[Video]:
    videos = Video.objects.filter(project=project).select_related("prompt", "generation_model").order_by("-id")
    return videos.filter(status=status) if status else videos


def video_get(*, project: Project, video_id: int) -> Video:
    video = Video.objects.filter(project=project, pk=video_id).select_related("prompt", "generation_model").first()
    if video is None:
        raise NotFound(f"Project {project.pk} has no video {video_id}.")
    return video


def video_status_counts(*, project: Project) -> dict[str, int]:
    counts = dict(Video.objects.filter(project=project).values_list("status").annotate(n=Count("id")))
    return {status: counts.get(status, 0) for status in Video.Status.values}


def pair_counts(*, project: Project) -> dict[str, int]:
    """Pairs per strategy that made them."""
    return dict(Pair.objects.filter(project=project).values_list("strategy").annotate(n=Count("id")).order_by("strategy"))


def import_jobs_for(*, project: Project) -> QuerySet[ImportJob]:
    return ImportJob.objects.filter(project=project).order_by("-id")


def import_job_get(*, job_id: int) -> ImportJob:
    job = ImportJob.objects.filter(pk=job_id).select_related("project").first()
    if job is None:
        raise NotFound(f"No import job {job_id}.")
    return job


def ready_prompt_ids(*, project: Project) -> list[int]:
    """Prompts with at least two ready videos, in id order."""
    rows = (Video.objects.filter(project=project, status=Video.Status.READY).values("prompt_id")
            .annotate(n=Count("id")).filter(n__gte=2).order_by("prompt_id"))
    return [row["prompt_id"] for row in rows]


def ready_videos_by_prompt(*, project: Project, first: int, last: int) -> dict[int, list[tuple]]:
    """(id, prompt_id, generation_model_id, seed) of ready videos per prompt, for prompt ids first..last."""
    rows = (Video.objects.filter(project=project, status=Video.Status.READY, prompt_id__gte=first, prompt_id__lte=last)
            .order_by("prompt_id", "id").values_list("id", "prompt_id", "generation_model_id", "seed"))
    by_prompt: dict[int, list[tuple]] = defaultdict(list)
    for row in rows:
        by_prompt[row[1]].append(row)
    return by_prompt


def pair_keys_by_prompt(*, project: Project, first: int, last: int) -> dict[int, set[tuple[int, int]]]:
    """(lower video id, higher video id) of every pair per prompt, for prompt ids first..last."""
    rows = Pair.objects.filter(project=project, prompt_id__gte=first, prompt_id__lte=last).values_list("prompt_id", "video_a_id", "video_b_id")
    by_prompt: dict[int, set[tuple[int, int]]] = defaultdict(set)
    for prompt_id, a, b in rows:
        by_prompt[prompt_id].add((a, b) if a < b else (b, a))
    return by_prompt
