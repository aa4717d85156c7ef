"""The project's reward model: register a checkpoint made elsewhere, promote one, and have it score the project's
videos."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from annotation.models import Project
from config.errors import Conflict, InvalidInput
from rewardlab.models import RewardModel
from rewardlab.selectors import unscored_videos
from rewardlab.services.submit import score_run_create


@transaction.atomic
def reward_model_register(*, project: Project, name: str, checkpoint_dir: str, base_model_path: str = "") -> RewardModel:
    """Register a reward checkpoint that no run of ours made (the released VideoReward folder, or our layout from
    another machine) with `project`. Its config is read (not its weights) for its dimensions and base model."""
    from rewardlab.ml.checkpoint import read_any_config

    try:
        config = read_any_config(checkpoint_dir)
    except (OSError, ValueError) as exc:
        raise InvalidInput(f"{checkpoint_dir} is not a reward checkpoint: {exc}",
                           fields={"checkpoint_dir": ["not a reward checkpoint"]}) from exc
    if RewardModel.objects.filter(project=project, checkpoint_dir=str(checkpoint_dir)).exists():
        raise Conflict(f"{checkpoint_dir} is already registered with project {project.pk}.",
                       fields={"checkpoint_dir": ["already registered"]})
    return RewardModel.objects.create(project=project, name=name, checkpoint_dir=str(checkpoint_dir),
                                      base_model_path=base_model_path or config.base_model_path,
                                      dimensions=list(config.dimensions))


@transaction.atomic
def reward_model_promote(*, reward_model: RewardModel, promoted_by: AbstractBaseUser) -> RewardModel:
    """Make this checkpoint the project's reward model (the previous one steps down) and queue scoring of the
    project's videos, which the uncertainty pair strategy and the quality page's agreement read.

    Promoting the model that is already active changes nothing and starts nothing: its videos are kept scored
    by :func:`reward_models_keep_scored`. The row lock makes two promotes at once count as one.
    """
    reward_model = RewardModel.objects.select_for_update().get(pk=reward_model.pk)
    if reward_model.is_active:
        return reward_model
    RewardModel.objects.select_for_update().filter(project_id=reward_model.project_id, is_active=True).exclude(
        pk=reward_model.pk).update(is_active=False)
    reward_model.is_active = True
    reward_model.promoted_at = timezone.now()
    reward_model.promoted_by = promoted_by
    reward_model.save(update_fields=["is_active", "promoted_at", "promoted_by"])
    score_run_create(created_by=promoted_by, reward_model=reward_model)
    return reward_model


def reward_models_keep_scored() -> list[int]:
    """Queue a scoring run for each project reward model that has unscored ready videos (new uploads, new
    rounds) and no scoring run in flight; returns the runs queued. Called periodically by celery beat."""
    queued = []
    for model in RewardModel.objects.filter(is_active=True):
        if unscored_videos(model).exists() and not model.score_runs.filter(status__in=["queued", "running"]).exists():
            queued.append(score_run_create(created_by=None, reward_model=model).pk)
    return queued
