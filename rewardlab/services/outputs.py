"""Outputs a worker writes for the run it holds. Each write checks the run is still this attempt's and is
idempotent, so a run resumed after a lost worker can write them again without duplicates."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from rewardlab.models import AlignmentRun, Generation, RewardEval, RewardModel, RewardRun, Run, ScoreRun
from rewardlab.services.runs import RunStopped, run_log, run_metrics_replace


def _held(model: type[Run], run: Run, attempt: int):
    row = model.objects.select_for_update().filter(pk=run.pk, status=Run.Status.RUNNING, attempts=attempt).first()
    if row is None:
        raise RunStopped()  # the run was taken from this worker; its new owner writes the outputs
    return row


def _held_save(model: type[Run], run: Run, attempt: int, **fields) -> Run:
    """Write ``fields`` to the run this attempt still holds (RunStopped otherwise); the locked row."""
    row = _held(model, run, attempt)
    for name, value in fields.items():
        setattr(row, name, value)
    row.save(update_fields=list(fields))
    return row


@transaction.atomic
def reward_run_trained(*, run: RewardRun, attempt: int, result: dict) -> RewardModel:
    """Keep the training summary (the curves are in the metrics) and register the checkpoint."""
    row = _held_save(RewardRun, run, attempt, checkpoint_dir=result["checkpoint"],
                     train_result={k: v for k, v in result.items() if k != "history"})
    run_metrics_replace(run_id=row.pk, phase="train", history=result["history"])
    model, created = RewardModel.objects.get_or_create(
        project_id=row.project_id, checkpoint_dir=row.checkpoint_dir,
        defaults={"name": row.name or f"reward run {row.pk}", "base_model_path": row.base_model_path,
                  "dimensions": list(row.dimensions), "source_run": row},
    )
    if created:
        run_log(run_id=row.pk, text=f"registered checkpoint {row.checkpoint_dir} as reward model {model.pk}")
    return model


@transaction.atomic
def reward_run_evaluated(*, run: RewardRun, attempt: int, reward_model: RewardModel, split: str, results: dict) -> RewardEval:
    """The held-out evaluation of a reward run, stored as a finished RewardEval so it sits in the comparison."""
    row = _held(RewardRun, run, attempt)
    now = timezone.now()
    evaluation = RewardEval.objects.filter(reward_model=reward_model, config__source_run=row.pk).first()
    if evaluation is None:
        evaluation = RewardEval(kind=Run.Kind.REWARD_EVAL, project_id=row.project_id, reward_model=reward_model,
                                dataset_version_id=row.dataset_version_id, split=split, config={"source_run": row.pk},
                                name=f"{reward_model.name} on {split}", created_by_id=row.created_by_id, started_at=now)
    evaluation.results = results
    evaluation.status, evaluation.progress, evaluation.finished_at = Run.Status.SUCCEEDED, 1.0, now
    evaluation.device, evaluation.worker_host = row.device, row.worker_host
    evaluation.save()
    run_log(run_id=row.pk, text=f"evaluated on the {split} split (evaluation {evaluation.pk})")
    return evaluation


@transaction.atomic
def reward_eval_results(*, run: RewardEval, attempt: int, results: dict) -> None:
    _held_save(RewardEval, run, attempt, results=results)


@transaction.atomic
def score_run_counted(*, run: ScoreRun, attempt: int, scored: int) -> None:
    _held_save(ScoreRun, run, attempt, scored_count=scored)


@transaction.atomic
def alignment_trained(*, run: AlignmentRun, attempt: int, result: dict) -> None:
    row = _held_save(AlignmentRun, run, attempt, adapter_dir=result["adapter_dir"])
    run_metrics_replace(run_id=row.pk, phase="align", history=result["history"])


@transaction.atomic
def alignment_win_rate(*, run: AlignmentRun, attempt: int, win_rate: dict, ci95: dict, n: int) -> None:
    _held_save(AlignmentRun, run, attempt, win_rate=win_rate, win_rate_ci95=ci95, win_rate_n=n)


@transaction.atomic
def latent_reward_trained(*, run: AlignmentRun, attempt: int, folder: str, dimensions: list[str]) -> None:
    _held_save(AlignmentRun, run, attempt, latent_reward_dir=folder, dimensions=list(dimensions))


@transaction.atomic
def generation_videos(*, run: Generation, attempt: int, videos: list[dict]) -> None:
    _held_save(Generation, run, attempt, videos=videos)
