"""Start runs: validate what a person asked for, write the run row, queue it on the gpu queue.

The API, the pages and the management commands all start runs through these functions. ``enqueue=False``
leaves the run for the caller to execute in its own process (the CLI does); if that process dies, the
sweeper hands the run to a GPU worker like any other.
"""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction

from annotation.models import DatasetVersion, Project
from config.errors import InvalidInput
from rewardlab import hyperparameters as hp
from rewardlab.base_models import check_base_model, run_defaults
from rewardlab.ml.pipeline_folders import UnsupportedPipelineError, size_rules
from rewardlab.models import AlignmentRun, Generation, RewardEval, RewardModel, RewardRun, Run, ScoreRun
from rewardlab.services.datasets import check_trainable
from rewardlab.services.runs import run_submit

MAX_GENERATIONS = 1000  # prompts x seeds in one generation run


def _dimensions(project: Project, dimensions: list[str] | None) -> list[str]:
    keys = project.dimension_keys
    if not dimensions:
        # The reward model scores each dimension; "overall" is their weighted mean unless asked for explicitly.
        return [k for k in keys if k != "overall"] or keys
    unknown = [d for d in dimensions if d not in keys]
    if unknown:
        raise InvalidInput(f"Project {project.pk} has no dimension {unknown[0]!r}; it has {', '.join(keys)}.",
                           fields={"dimensions": [f"unknown: {', '.join(unknown)}"]})
    return list(dict.fromkeys(dimensions))


def _settings(params: tuple[hp.Param, ...], base: str, kind: str, hyperparameters: dict | None) -> dict:
    """What a person set, over what the base model suggests (its vidpref.json), over the defaults; checked.
    A suggestion this kind of run does not take (a Flow-DPO setting on a Flow-NRG run) is not the person's
    mistake and is left out."""
    names = {p.name for p in params}
    suggested = {k: v for k, v in run_defaults(base, kind).items() if k in names}
    return hp.clean(params, {**suggested, **(hyperparameters or {})})


def _check_video_sizes(base: str, sizes: dict, field: str | None = None) -> None:
    """Refuse sizes the generator cannot take now, not after minutes of loading weights on a GPU worker.

    ``field``: where the sizes came from when not their own settings (``sampling``)."""
    try:
        rules = size_rules(base)
    except UnsupportedPipelineError as exc:
        raise InvalidInput(str(exc), fields={"base_model_path": ["not a pipeline we can run"]}) from exc
    problems = rules.problems(**{k: sizes.get(k) for k in ("num_frames", "height", "width")})
    if problems:
        fields = {f"hyperparameters.{field or name}": [problem] for name, problem in problems.items()}
        raise InvalidInput(f"{Path(base).name} cannot make videos of that size: "
                           + "; ".join(f"{name} {problem}" for name, problem in problems.items()) + ".", fields=fields)


def _succeeded(model: type[Run], pk: int | None, *, field: str, project: Project, **filters) -> Run | None:
    if pk is None:
        return None
    run = model.objects.filter(pk=pk, project=project, **filters).first()
    if run is None:
        raise InvalidInput(f"No such run {pk} in project {project.pk}.", fields={field: ["not found"]})
    if run.status != Run.Status.SUCCEEDED:
        raise InvalidInput(f"Run {pk} is {run.status}; pick a run that succeeded.", fields={field: [f"{run.status}"]})
    return run


def reward_settings(*, project: Project, base_model_path: str, dimensions: list[str] | None = None,
                    hyperparameters: dict | None = None, warm_start: RewardModel | None = None) -> dict:
    """A reward run's base model, dimensions and resolved hyperparameters, checked; ``warm_start``: a reward
    model of the same base whose weights the run starts from."""
    base = check_base_model(base_model_path, kind="reward")
    config = _settings(hp.REWARD_TRAIN, base, "reward", hyperparameters)
    if warm_start is not None:
        if warm_start.base_model_path != base:
            raise InvalidInput(f"Reward model {warm_start.pk} was trained from {warm_start.base_model_path}, not {base}; "
                               "a warm start needs the same base model.", fields={"warm_start": ["other base model"]})
        config["init_checkpoint"] = warm_start.checkpoint_dir
    return {"base_model_path": base, "dimensions": _dimensions(project, dimensions), "config": config}


@transaction.atomic
def reward_run_create(*, created_by: AbstractBaseUser | None, dataset_version: DatasetVersion, base_model_path: str,
                      name: str = "", dimensions: list[str] | None = None, hyperparameters: dict | None = None,
                      warm_start: RewardModel | None = None, enqueue: bool = True) -> RewardRun:
    check_trainable(dataset_version)
    checked = reward_settings(project=dataset_version.project, base_model_path=base_model_path, dimensions=dimensions,
                              hyperparameters=hyperparameters, warm_start=warm_start)
    run = RewardRun.objects.create(kind=Run.Kind.REWARD_TRAIN, project=dataset_version.project, name=name,
                                   created_by=created_by, dataset_version=dataset_version, **checked)
    return run_submit(run, enqueue=enqueue)


def eval_source(*, project_id: int, dataset_version: DatasetVersion | None, split: str = "test",
                benchmark_csv: str = "") -> dict:
    """Where an evaluation scores: a trainable version's split of this project, or a VideoGen-RewardBench CSV
    under IMPORT_ROOT (its absolute path); checked."""
    if bool(dataset_version) == bool(benchmark_csv):
        raise InvalidInput("Give either dataset_version (with split) or benchmark_csv.",
                           fields={"dataset_version": ["give this or benchmark_csv"]})
    if dataset_version:
        if dataset_version.project_id != project_id:
            raise InvalidInput("The dataset version belongs to another project than the reward model.",
                               fields={"dataset_version": ["other project"]})
        check_trainable(dataset_version)
        return {"dataset_version": dataset_version, "split": split, "benchmark_csv": ""}
    root = Path(settings.IMPORT_ROOT).resolve()
    csv = (root / benchmark_csv).resolve()
    if not csv.is_relative_to(root) or csv.suffix != ".csv" or not csv.is_file():
        raise InvalidInput(f"benchmark_csv must be a .csv file under {root} (IMPORT_ROOT); {benchmark_csv!r} is not.",
                           fields={"benchmark_csv": ["not a CSV under IMPORT_ROOT"]})
    return {"dataset_version": None, "split": "", "benchmark_csv": str(csv)}


@transaction.atomic
def reward_eval_create(*, created_by: AbstractBaseUser | None, reward_model: RewardModel, dataset_version: DatasetVersion | None = None,
                       split: str = "test", benchmark_csv: str = "", name: str = "", enqueue: bool = True) -> RewardEval:
    """Evaluate on a dataset version's split, or on a VideoGen-RewardBench CSV under IMPORT_ROOT."""
    source = eval_source(project_id=reward_model.project_id, dataset_version=dataset_version, split=split,
                         benchmark_csv=benchmark_csv)
    dataset_version, split, benchmark_csv = source["dataset_version"], source["split"], source["benchmark_csv"]
    run = RewardEval.objects.create(
        kind=Run.Kind.REWARD_EVAL, project_id=reward_model.project_id, created_by=created_by, reward_model=reward_model,
        dataset_version=dataset_version, split=split, benchmark_csv=benchmark_csv,
        name=name or f"{reward_model.name} on {f'v{dataset_version.number} {split}' if dataset_version else Path(benchmark_csv).name}",
    )
    return run_submit(run, enqueue=enqueue)


@transaction.atomic
def score_run_create(*, created_by: AbstractBaseUser | None, reward_model: RewardModel, enqueue: bool = True) -> ScoreRun:
    """Score the project's ready videos that this reward model has not scored yet."""
    live = ScoreRun.objects.filter(reward_model=reward_model, status__in=[Run.Status.QUEUED, Run.Status.RUNNING]).first()
    if live:
        return live
    run = ScoreRun.objects.create(kind=Run.Kind.SCORING, project_id=reward_model.project_id, created_by=created_by,
                                  reward_model=reward_model, name=f"score videos with {reward_model.name}")
    return run_submit(run, enqueue=enqueue)


def alignment_settings(*, project: Project, method: str, base_model_path: str, hyperparameters: dict | None = None,
                       with_reward_model: bool) -> dict:
    """An alignment run's method, base model and resolved hyperparameters, checked; ``with_reward_model``: whether
    the run has a reward model (Flow-RWR and relabel need one)."""
    if method not in AlignmentRun.Method.values:
        raise InvalidInput(f"method must be one of {', '.join(AlignmentRun.Method.values)}.", fields={"method": ["invalid"]})
    base = check_base_model(base_model_path, kind="generator")
    config = _settings(hp.alignment_params(method), base, "alignment", hyperparameters)
    _check_video_sizes(base, {k: config.get(k) for k in ("height", "width")})
    if with_reward_model and config.get("win_rate_prompts"):
        _check_video_sizes(base, hp.win_rate_sampling(config), field="sampling")
    if method == AlignmentRun.Method.FLOW_RWR and not with_reward_model:
        raise InvalidInput("Flow-RWR weights videos by their reward: choose a reward model.", fields={"reward_model": ["required for flow_rwr"]})
    if config.get("relabel") and not with_reward_model:
        raise InvalidInput("relabel lets a reward model label the pairs: choose one.", fields={"reward_model": ["required for relabel"]})
    if "dimension" in config and config["dimension"] not in project.dimension_keys and not config.get("weights"):
        raise InvalidInput(f"dimension must be one of {', '.join(project.dimension_keys)}.", fields={"hyperparameters.dimension": ["unknown"]})
    if method == AlignmentRun.Method.FLOW_NRG:
        config["processes"] = 1  # the latent reward model trains in one process
    return {"method": method, "base_model_path": base, "config": config}


@transaction.atomic
def alignment_run_create(*, created_by: AbstractBaseUser | None, dataset_version: DatasetVersion, method: str, base_model_path: str,
                         reward_model: RewardModel | None = None, name: str = "", dimensions: list[str] | None = None,
                         hyperparameters: dict | None = None, enqueue: bool = True) -> AlignmentRun:
    check_trainable(dataset_version)
    project = dataset_version.project
    if reward_model and reward_model.project_id != project.pk:
        raise InvalidInput("The reward model belongs to another project.", fields={"reward_model": ["other project"]})
    checked = alignment_settings(project=project, method=method, base_model_path=base_model_path,
                                 hyperparameters=hyperparameters, with_reward_model=reward_model is not None)
    run = AlignmentRun.objects.create(
        kind=Run.Kind.ALIGNMENT, project=project, name=name, created_by=created_by, dataset_version=dataset_version,
        reward_model=reward_model, dimensions=_dimensions(project, dimensions) if method == AlignmentRun.Method.FLOW_NRG else [],
        **checked,
    )
    return run_submit(run, enqueue=enqueue)


@transaction.atomic
def generation_create(*, created_by: AbstractBaseUser | None, project: Project, base_model_path: str, prompts: list[str],
                      seeds: list[int], alignment_run_id: int | None = None, nrg_run_id: int | None = None,
                      nrg_weights: dict[str, float] | None = None, name: str = "",
                      hyperparameters: dict | None = None, enqueue: bool = True) -> Generation:
    prompts = [p.strip() for p in prompts if p and p.strip()]
    if not prompts or not seeds:
        raise InvalidInput("Give at least one prompt and one seed.", fields={"prompts": ["empty"]})
    if len(prompts) * len(seeds) > MAX_GENERATIONS:
        raise InvalidInput(f"{len(prompts)} prompts x {len(seeds)} seeds is more than {MAX_GENERATIONS} videos; split it into several runs.",
                           fields={"prompts": ["too many videos"]})
    aligned = _succeeded(AlignmentRun, alignment_run_id, field="alignment_run", project=project,
                         method__in=[AlignmentRun.Method.FLOW_DPO, AlignmentRun.Method.FLOW_RWR])
    nrg = _succeeded(AlignmentRun, nrg_run_id, field="nrg_run", project=project, method=AlignmentRun.Method.FLOW_NRG)
    base = check_base_model(base_model_path, kind="generator")
    for source, field in ((aligned, "alignment_run"), (nrg, "nrg_run")):
        if source and source.base_model_path != base:
            raise InvalidInput(f"Run {source.pk} was trained on {source.base_model_path}, not {base}.", fields={field: ["other base model"]})
    weights = {k: float(v) for k, v in (nrg_weights or {}).items() if float(v) != 0.0}
    if nrg_weights and not weights:
        raise InvalidInput("Every NRG weight is 0: leave out nrg_run to sample without guidance.", fields={"nrg_weights": ["all zero"]})
    if weights and nrg is None:
        raise InvalidInput("NRG weights need a Flow-NRG run (nrg_run) whose latent reward model guides sampling.",
                           fields={"nrg_weights": ["no nrg_run"]})
    if nrg and set(weights) - set(nrg.dimensions):
        raise InvalidInput(f"The latent reward model of run {nrg.pk} scores {', '.join(nrg.dimensions)} only.",
                           fields={"nrg_weights": ["unknown dimension"]})
    config = _settings(hp.GENERATION, base, "generation", hyperparameters)
    _check_video_sizes(base, config)
    run = Generation.objects.create(
        kind=Run.Kind.GENERATION, project=project, name=name, created_by=created_by, base_model_path=base,
        alignment_run=aligned, nrg_run=nrg, nrg_weights=weights, prompts=prompts, seeds=[int(s) for s in seeds],
        config=config,
    )
    return run_submit(run, enqueue=enqueue)
