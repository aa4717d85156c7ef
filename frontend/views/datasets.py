"""/projects/<id>/datasets/: a project's dataset versions with their statistics, and a form to make one, which
previews rows and prompts per split (…/datasets/preview/) before the version is made."""

from django import forms
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render

from annotation.exports import FORMATS, GRANULARITIES
from annotation.models import Project
from annotation.selectors.dataset_versions import dataset_versions_of, split_preview, version_files
from annotation.services.exports import dataset_version_create, dataset_version_request_clean
from annotation.splits import DEFAULT_SPLITS
from config.errors import InvalidInput
from frontend.views.access import page_project

FORMAT_LABELS = {"jsonl": "JSONL", "csv": "CSV", "parquet": "Parquet", "hf": "Hugging Face datasets folder",
                 "rewardbench": "VideoAlign / RewardBench CSV"}


class VersionForm(forms.Form):
    name = forms.CharField(required=False, max_length=200)
    formats = forms.MultipleChoiceField(choices=[(f, FORMAT_LABELS[f]) for f in FORMATS], initial=["jsonl"],
                                        widget=forms.CheckboxSelectMultiple)
    granularity = forms.ChoiceField(choices=[(g, g) for g in GRANULARITIES], initial="consensus",
                                    help_text="consensus: one row per pair; raw: one row per judgment.")
    train = forms.FloatField(min_value=0, max_value=1, initial=DEFAULT_SPLITS["train"])
    val = forms.FloatField(min_value=0, max_value=1, initial=DEFAULT_SPLITS["val"])
    test = forms.FloatField(min_value=0, max_value=1, initial=DEFAULT_SPLITS["test"])
    seed = forms.IntegerField(min_value=0, initial=0)
    include_videos = forms.ChoiceField(choices=[("", "no"), ("folder", "folder"), ("tar", "tar"), ("zip", "zip")],
                                       required=False)
    dimensions = forms.MultipleChoiceField(widget=forms.CheckboxSelectMultiple, required=False)
    annotators = forms.CharField(required=False, help_text="Usernames, comma separated; empty for everyone.")
    created_from = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    created_to = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}),
                                 help_text="Exclusive.")
    include_gold = forms.BooleanField(required=False)
    include_imported = forms.BooleanField(required=False, initial=True)
    min_judgments = forms.IntegerField(min_value=1, initial=1)
    min_agreement = forms.FloatField(min_value=0, max_value=1, required=False)

    def __init__(self, project: Project, *args, **kwargs):
        super().__init__(*args, **kwargs)
        dims = [(d["key"], d.get("label") or d["key"]) for d in project.dimensions]
        self.fields["dimensions"].choices = dims
        self.fields["dimensions"].initial = [key for key, _ in dims]

    def service_kwargs(self) -> dict:
        """The form's answers as ``dataset_version_create`` arguments."""
        data = self.cleaned_data
        annotators = [a.strip() for a in data["annotators"].split(",") if a.strip()]
        return {
            "name": data["name"],
            "formats": data["formats"],
            "granularity": data["granularity"],
            "splits": {s: data[s] for s in ("train", "val", "test")},
            "seed": data["seed"],
            "include_videos": data["include_videos"],
            "filters": {
                "dimensions": data["dimensions"] or None,
                "annotators": annotators or None,
                "created_from": data["created_from"],
                "created_to": data["created_to"],
                "include_gold": data["include_gold"],
                "include_imported": data["include_imported"],
                "min_judgments": data["min_judgments"],
                "min_agreement": data["min_agreement"],
            },
        }


def _service_error(form: VersionForm, exc: InvalidInput) -> None:
    """The service's message, once, under the field it names (the fractions under train), else above the form."""
    for key in exc.fields:
        name = {"splits": "train"}.get(key, key.removeprefix("filters."))
        if name in form.fields:
            form.add_error(name, exc.message)
            return
    form.add_error(None, exc.message)


def _outcomes(project: Project, counts: dict) -> list[tuple[str, dict]]:
    """A version's outcome counts as (label, counts), in the project's order of dimensions."""
    return [(label, counts[key]) for key, label in project.dimension_columns(counts)]


@login_required
def datasets(request, project_id: int):
    project = page_project(request.user, project_id, "manager")
    form = VersionForm(project, request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            version = dataset_version_create(project=project, created_by=request.user, **form.service_kwargs())
        except InvalidInput as exc:
            _service_error(form, exc)
        else:
            return redirect(f"{request.path}#v{version.number}")
    versions = [{"version": v, "files": version_files(v),
                 "outcomes": _outcomes(project, v.row_counts.get("labels") or v.row_counts.get("choices") or {})}
                for v in dataset_versions_of(project)]
    context = {"project": project, "form": form, "versions": versions, "preview": _preview(project, form)}
    return render(request, "frontend/datasets.html", context, status=400 if form.errors else 200)


def _preview(project: Project, form: VersionForm) -> dict:
    """The split preview of what the form asks for, or why there is none."""
    if not form.is_bound:
        form = VersionForm(project, {name: field.initial for name, field in form.fields.items()
                                     if field.initial is not None and field.initial is not False})
    if not form.is_valid():
        return {"error": "Fix the marked fields to see what the version would hold."}
    try:
        request = dataset_version_request_clean(project=project, **form.service_kwargs())
    except InvalidInput as exc:
        return {"error": exc.message}
    return split_preview(project=project, request=request)


@login_required
def datasets_preview(request, project_id: int):
    """The form's answers (as a query string) -> the preview fragment; the page asks as the form changes."""
    project = page_project(request.user, project_id, "manager")
    preview = _preview(project, VersionForm(project, request.GET))
    return render(request, "frontend/datasets_preview.html", {"preview": preview})
