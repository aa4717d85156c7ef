"""Reads for annotators: an assignment as its annotator may see it, its media, their progress.

An annotator sees the prompt, "left" and "right" media under assignment-scoped URLs, the dimensions and the
guidelines. Never model names, file names, video ids, the canonical A/B order or anyone else's votes.
"""

from datetime import datetime, time

from django.contrib.auth.models import AbstractBaseUser
from django.core.cache import cache
from django.db.models import F, Sum
from django.urls import reverse
from django.utils import timezone

from annotation.models import Assignment, Judgment, Pair, Project, Video
from annotation.permissions import read_role, with_role
from annotation.services.assignment import remaining_cache_key, to_canonical
from config.errors import NotFound

SIDES = ("left", "right")
REMAINING_CACHE_SECONDS = 15
DEFAULT_FRAME_STEP_S = 1 / 30


def assignment_for(*, user: AbstractBaseUser, assignment_id: int, with_videos: bool = False) -> Assignment:
    """The assignment with its pair and project (and its videos if asked); 404 unless the user is in its project.

    One query. The videos are left out unless needed: submit and skip run on every judgment, and the wider read
    costs them more to build than to run.
    """
    related = ("pair__project", "pair__video_a", "pair__video_b") if with_videos else ("pair__project",)
    assignments = with_role(Assignment.objects.select_related(*related), user, "pair__project")
    assignment = assignments.filter(pk=assignment_id).first()
    if assignment is None or read_role(user, assignment) is None:
        raise NotFound("Assignment not found.")
    return assignment


def shown_video(assignment: Assignment, side: str) -> Video:
    return assignment.pair.video_a if to_canonical(side, assignment.shown_left) == "A" else assignment.pair.video_b


def assignment_payload(assignment: Assignment) -> dict:
    """What the annotator's page gets for one leased pair."""
    pair = assignment.pair
    fps = max(v.fps or 0 for v in (pair.video_a, pair.video_b))

    def media(side: str) -> dict:
        return {
            "video": reverse("assignment-media", args=[assignment.pk, side]),
            "poster": reverse("assignment-poster", args=[assignment.pk, side])
            if shown_video(assignment, side).poster else None,
        }

    return {
        "id": assignment.pk,
        "expires_at": assignment.expires_at,
        "prompt": pair.prompt.text,
        "left": media("left"),
        "right": media("right"),
        # The finer of the two frame rates, so one step moves both players by at most a frame.
        "frame_step_s": round(1 / fps if fps else DEFAULT_FRAME_STEP_S, 5),
        "dimensions": [{"key": d["key"], "label": d.get("label", d["key"]), "description": d.get("description", "")}
                       for d in pair.project.dimensions],
        "guidelines": pair.project.guidelines,
    }


def assignment_media_key(*, assignment: Assignment, user: AbstractBaseUser, side: str, kind: str) -> tuple[str, str]:
    """(storage key, content type) of one side's video or poster, for the assignment's annotator while leased."""
    live = assignment.status == Assignment.Status.LEASED and assignment.expires_at > timezone.now()
    if assignment.annotator_id != user.pk or not live or side not in SIDES or kind not in ("video", "poster"):
        raise NotFound("No such media: it belongs to a live lease of yours, as left or right, video or poster.")
    video = shown_video(assignment, side)
    key = video.playback if kind == "video" else video.poster
    if video.status != Video.Status.READY or not key:
        raise NotFound("This video has no playable file.")
    return key, "video/mp4" if kind == "video" else "image/jpeg"


def _remaining_judgments(project: Project) -> int:
    left = Pair.objects.filter(project=project, is_gold=False).aggregate(n=Sum(F("target") - F("done_count")))["n"]
    return int(left or 0)


def annotator_progress(*, project: Project, annotator: AbstractBaseUser) -> dict:
    """Judgments the annotator made today (UTC day of the server) and judgments the project still needs.

    The project-wide figure sums over every pair, so it is cached for a few seconds rather than scanned per page
    (a submit forgets it, so the submitter's next read is exact).
    """
    day_start = timezone.make_aware(datetime.combine(timezone.localdate(), time.min))
    done_today = Judgment.objects.filter(annotator=annotator, created_at__gte=day_start, pair__project=project).count()
    remaining = cache.get_or_set(remaining_cache_key(project), lambda: _remaining_judgments(project),
                                 REMAINING_CACHE_SECONDS)
    return {"done_today": done_today, "remaining": remaining}
