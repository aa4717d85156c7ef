"""Pages' query strings, checked by a Django form: a value the form refuses is the 400 page naming the parameter,
never a 500 and never a filter quietly dropped."""

from django import forms
from django.core.exceptions import BadRequest

from annotation.models import Project, Video
from config.api import INT64_MAX


def page_params(form_class: type[forms.Form], data) -> dict:
    """The cleaned query string (a BadRequest naming each refused parameter otherwise)."""
    form = form_class(data)
    if not form.is_valid():
        raise BadRequest("Bad query parameter: " + "; ".join(
            f"{name}: {' '.join(errors)}" for name, errors in form.errors.items()))
    return form.cleaned_data


def _id_field() -> forms.IntegerField:
    return forms.IntegerField(required=False, min_value=1, max_value=INT64_MAX)


class ProjectFilter(forms.Form):
    project = forms.ModelChoiceField(Project.objects.all(), required=False)


class RunsHomeParams(ProjectFilter):
    """/runs/: the project filter, and what a run page's buttons preselect in the forms."""

    alignment_run = _id_field()
    nrg_run = _id_field()
    reward_model = _id_field()
    base = forms.CharField(required=False)


class EvaluationsParams(ProjectFilter):
    ids = forms.CharField(required=False, help_text="Run ids, comma-separated.")

    def clean_ids(self) -> list[int]:
        parts = [part.strip() for part in self.cleaned_data["ids"].split(",") if part.strip()]
        if not all(part.isdigit() and 1 <= int(part) <= INT64_MAX for part in parts):
            raise forms.ValidationError("Give run ids separated by commas, e.g. ids=3,5,8.")
        return [int(part) for part in parts]


class VideoListParams(forms.Form):
    status = forms.ChoiceField(choices=Video.Status.choices, required=False)
    page = forms.IntegerField(required=False, min_value=1, max_value=INT64_MAX)
