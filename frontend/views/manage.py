"""/projects/<id>/manage/: upload videos, import manifests (live progress, per-row errors), videos, pairs.

The forms post here and call the same services as the API; manage.js follows running imports and pending
videos through the API and plays videos in place.
"""

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpResponseBadRequest
from django.shortcuts import redirect, render
from django.views.decorators.csrf import ensure_csrf_cookie

from annotation.models import ImportJob, Project, Video
from annotation.selectors.videos import import_jobs_for, pair_counts, video_status_counts, videos_for_manager
from annotation.services.imports import import_job_create
from annotation.services.ingest import MAX_SEED, MULTIPART_SLACK, check_upload_size, video_ingest
from annotation.services.pairing import MAX_PER_PROMPT, STRATEGIES, pairs_generate
from annotation.storage import uploaded_file_path
from config.errors import ServiceError
from frontend.views.access import page_project
from frontend.views.params import VideoListParams, page_params

VIDEOS_PER_PAGE = 50
JOBS_SHOWN = 20


class UploadForm(forms.Form):
    file = forms.FileField(allow_empty_file=True)
    prompt = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}))
    model = forms.CharField(max_length=200, help_text="The generation model (never shown to annotators).")
    seed = forms.IntegerField(required=False, min_value=-MAX_SEED, max_value=MAX_SEED)


class ImportForm(forms.Form):
    manifest = forms.CharField(required=False, label="Manifest path under IMPORT_ROOT",
                               help_text="A .jsonl or .csv file, or a folder: one subfolder per model, each clip.mp4 with its prompt in clip.txt.")
    file = forms.FileField(required=False, label="…or upload a manifest",
                           help_text="Its video paths are relative to IMPORT_ROOT.")
    kind = forms.ChoiceField(choices=[("", "detect"), *ImportJob.Kind.choices], required=False)


class PairsForm(forms.Form):
    strategy = forms.ChoiceField(choices=())
    per_prompt = forms.IntegerField(required=False, min_value=1, max_value=MAX_PER_PROMPT,
                                    help_text="Pairs each prompt should end up with (random, balanced).")
    seed = forms.IntegerField(required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["strategy"].choices = [(name, name) for name in sorted(STRATEGIES)]


def _upload(request, project: Project, data: dict) -> str:
    upload = data["file"]
    check_upload_size(upload.size)
    with uploaded_file_path(upload) as path:
        video, created = video_ingest(project=project, path=path, prompt_text=data["prompt"], model_name=data["model"],
                                      seed=data["seed"], source="upload", original_name=upload.name or "")
    if created:
        return f"Video {video.pk} uploaded; a media worker is processing it."
    return f"This file is already video {video.pk} ({video.status})."


def _import(request, project: Project, data: dict) -> str:
    options = {"project": project, "created_by": request.user, "kind": data["kind"] or None, "manifest": data["manifest"]}
    if data["file"]:
        with uploaded_file_path(data["file"]) as path:
            job = import_job_create(upload_path=path, upload_name=data["file"].name or "", **options)
    else:
        job = import_job_create(**options)
    return f"Import job {job.pk} queued: {job.total_rows} rows ({job.kind})."


def _pairs(request, project: Project, data: dict) -> str:
    created = pairs_generate(project=project, strategy=data["strategy"], per_prompt=data["per_prompt"], seed=data["seed"])
    return f"{created} new pairs ({data['strategy']})."


ACTIONS = {"upload": (UploadForm, _upload), "import": (ImportForm, _import), "pairs": (PairsForm, _pairs)}


@login_required
@ensure_csrf_cookie
def manage(request, project_id: int):
    project = page_project(request.user, project_id, "manager")
    page_forms = {name: form_class(prefix=name) for name, (form_class, _) in ACTIONS.items()}
    if request.method == "POST":
        try:  # before the body is parsed: an oversized upload is refused without spooling it to disk
            check_upload_size(int(request.META.get("CONTENT_LENGTH") or 0), slack=MULTIPART_SLACK)
        except ServiceError as exc:
            messages.error(request, exc.message)
            return redirect(request.path)
        action = request.POST.get("action")
        if action not in ACTIONS:
            return HttpResponseBadRequest("Unknown action.")
        form_class, handler = ACTIONS[action]
        form = page_forms[action] = form_class(request.POST, request.FILES, prefix=action)
        if form.is_valid():
            try:
                message = handler(request, project, form.cleaned_data)
            except ServiceError as exc:
                form.add_error(None, exc.message)
            else:
                messages.success(request, message)
                return redirect(f"{request.path}#{action}")

    params = page_params(VideoListParams, request.GET)
    status = params["status"] or None
    videos = Paginator(videos_for_manager(project=project, status=status), VIDEOS_PER_PAGE).get_page(params["page"])
    context = {
        "project": project, "forms": page_forms, "videos": videos, "status": status, "statuses": Video.Status.values,
        "counts": video_status_counts(project=project), "pairs": pair_counts(project=project),
        "jobs": import_jobs_for(project=project)[:JOBS_SHOWN],
    }
    has_errors = any(form.errors for form in page_forms.values())
    return render(request, "frontend/manage.html", context, status=400 if has_errors else 200)
