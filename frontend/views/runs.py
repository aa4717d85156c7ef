"""/runs/: admins start reward, evaluation, alignment and generation runs, watch them live, compare evaluations,
promote a reward model and send generated videos to a project.

The pages read through rewardlab.selectors; every action goes through the staff-only REST API from
frontend/static/frontend/runs.js, so the pages, the API and the CLI start runs the same way.
"""

import json
from functools import wraps

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import get_object_or_404, render

from annotation.media_response import ranged_file_response
from annotation.models import Project
from annotation.services.pairing import STRATEGIES
from frontend.views.params import EvaluationsParams, RunsHomeParams, page_params
from rewardlab import base_models, human_eval, pipeline_selectors, selectors
from rewardlab import hyperparameters as hp
from rewardlab.models import AlignmentRun, Run

# What the pipeline page's editor starts from before a project has a pipeline.
EXAMPLE_PIPELINE = {
    "enabled": False, "every_judgments": 1000, "min_interval_seconds": 0,
    "dataset": {"formats": ["jsonl"], "granularity": "consensus", "splits": {"train": 0.8, "val": 0.1, "test": 0.1}, "seed": 0},
    "reward": {"base_model_path": "", "hyperparameters": {}, "warm_start": False},
    "gate": {"mode": "beat", "dataset_version": None, "split": "test", "benchmark_csv": "", "metric": "acc_with_ties",
             "margin": 0.0, "on": "overall"},
    "alignment": None,
}
FORM_PARAMS = {"reward": hp.REWARD_TRAIN, "alignment": hp.ALIGNMENT, "latent_reward": hp.LATENT_REWARD,
               "generation": hp.GENERATION}


def staff_required(view):
    """Anonymous users go to the login page; signed-in people who are not admins get 403."""
    @wraps(view)
    def wrapped(request, *args, **kwargs):
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        if not request.user.is_staff:
            raise PermissionDenied("Runs are for admins: your account needs staff status, which only a site "
                                   "administrator can give. A role in a project, even manager, does not open them.")
        return view(request, *args, **kwargs)

    return wrapped


def _form_params(params: tuple[hp.Param, ...]) -> list[hp.Param]:
    return [p for p in params if p.on_form]


# What a run page's buttons ("Generate with this adapter", "Align with this reward model") preselect in the forms.
PRESELECT = ("alignment_run", "nrg_run", "reward_model")


@staff_required
def runs_home(request):
    params = page_params(RunsHomeParams, request.GET)
    project_id = params["project"].pk if params["project"] else None
    context = {
        "preselect": {name: params[name] for name in PRESELECT if params[name] is not None} | {"base": params["base"]},
        "runs": selectors.runs_list(project_id=project_id)[:100],
        "projects": Project.objects.order_by("name"),
        "project_id": project_id,
        "versions": selectors.trainable_versions(project_id),
        "reward_bases": base_models.choices("reward"),
        "generator_bases": base_models.choices("generator"),
        "run_defaults": {**base_models.run_defaults_by_path("reward"), **base_models.run_defaults_by_path("generator")},
        "reward_models": selectors.reward_models(project_id=project_id),
        "adapter_runs": selectors.succeeded_alignments(project_id=project_id, methods=["flow_dpo", "flow_rwr"]),
        "nrg_runs": selectors.succeeded_alignments(project_id=project_id, methods=["flow_nrg"]),
        "methods": AlignmentRun.Method.choices,
        "params": {name: _form_params(params) for name, params in FORM_PARAMS.items()},
    }
    return render(request, "frontend/runs.html", context)


@staff_required
def run_detail(request, run_id: int):
    run = selectors.run_typed(get_object_or_404(Run, pk=run_id))
    context = {"run": run, "projects": Project.objects.order_by("name"), "strategies": sorted(STRATEGIES),
               "config_json": json.dumps(run.config, indent=2, sort_keys=True),
               "pipeline_execution": pipeline_selectors.execution_of_run(run)}
    if run.kind == Run.Kind.REWARD_TRAIN:
        model = selectors.reward_models().filter(source_run=run).first()
        context["reward_model"] = model
        context["reading"] = selectors.reward_model_reading(model) if model else None
        context["comparison"] = selectors.evaluation_table(list(model.evaluations.all())) if model else None
    elif run.kind == Run.Kind.REWARD_EVAL:
        context["comparison"] = selectors.evaluation_table([run])
    elif run.kind == Run.Kind.ALIGNMENT:  # the reward model's verdict, and what people made of its generations
        context["win_rates"] = [{"dim": label, "rate": run.win_rate[key], "ci95": run.win_rate_ci95.get(key)}
                                for key, label in run.project.dimension_columns(run.win_rate)]
        context["human_evals"] = [human_eval.generation_human_eval(g) for g in human_eval.evaluated_generations(run)]
    elif run.kind == Run.Kind.GENERATION:
        context["videos"] = selectors.generation_videos(run)
        context["human_eval"] = human_eval.generation_human_eval(run) if human_eval.has_baseline(run) else None
        if human_eval.has_baseline(run):  # candidates meet their baselines; another strategy adds its pairs on top
            context["strategies"] = [human_eval.BASELINE, *context["strategies"]]
        context["default_strategy"] = context["strategies"][0] if human_eval.has_baseline(run) else "all"
    return render(request, "frontend/runs_detail.html", context)


@staff_required
def evaluations_compare(request):
    """Evaluations side by side: all of a project's (or those named with ?ids=1,2,3)."""
    params = page_params(EvaluationsParams, request.GET)
    project_id = params["project"].pk if params["project"] else None
    table = selectors.evaluation_table(selectors.evaluations_to_compare(ids=params["ids"], project_id=project_id))
    return render(request, "frontend/runs_compare.html", {"table": table, "projects": Project.objects.order_by("name")})


@staff_required
def run_file(request, run_id: int, path: str):
    """A file a run wrote (a generated video), streamed with Range support for the video player."""
    run = get_object_or_404(Run, pk=run_id)
    found = selectors.run_output_path(run, path)
    if found is None:
        raise Http404("No such file in this run's output.")
    return ranged_file_response(request, found)


@staff_required
def pipeline_page(request, project_id: int):
    """The project's pipeline: its settings (edited through the API), executions with their decisions, the
    history chart and the audit of changes."""
    project = get_object_or_404(Project, pk=project_id)
    state = pipeline_selectors.pipeline_state(project)
    context = {"project": project, "state": state,
               "history": pipeline_selectors.pipeline_history(project, state["executions"]) if state else [],
               "settings_json": json.dumps(pipeline_selectors.pipeline_settings(state["pipeline"]) if state else EXAMPLE_PIPELINE, indent=2)}
    return render(request, "frontend/runs_pipeline.html", context)
