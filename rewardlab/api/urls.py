"""Routes of /api/v1/ for reward and alignment runs (staff only) and reward models."""

from django.urls import path

from rewardlab.api import pipelines, reward_models, runs
from rewardlab.models import Run

urlpatterns = [
    path("runs/", runs.RunListApi.as_view(), name="run-list"),
    path("runs/<int:run_id>/progress/", runs.RunProgressApi.as_view(), name="run-progress"),
    path("runs/<int:run_id>/cancel/", runs.RunCancelApi.as_view(), name="run-cancel"),
    path("runs/<int:run_id>/resume/", runs.RunResumeApi.as_view(), name="run-resume"),
    path("reward-runs/", runs.RewardRunListApi.as_view(), name="reward-run-list"),
    path("reward-runs/<int:run_id>/", runs.RewardRunDetailApi.as_view(), name="reward-run-detail"),
    path("reward-runs/<int:run_id>/cancel/", runs.RunCancelApi.as_view(kind=Run.Kind.REWARD_TRAIN), name="reward-run-cancel"),
    path("reward-evals/", runs.RewardEvalListApi.as_view(), name="reward-eval-list"),
    path("reward-evals/<int:run_id>/", runs.RewardEvalDetailApi.as_view(), name="reward-eval-detail"),
    path("reward-models/", reward_models.RewardModelListApi.as_view(), name="reward-model-list"),
    path("reward-models/<int:model_id>/promote/", reward_models.RewardModelPromoteApi.as_view(), name="reward-model-promote"),
    path("reward-models/<int:model_id>/score/", reward_models.RewardModelScoreApi.as_view(), name="reward-model-score"),
    path("alignment-runs/", runs.AlignmentRunListApi.as_view(), name="alignment-run-list"),
    path("alignment-runs/<int:run_id>/", runs.AlignmentRunDetailApi.as_view(), name="alignment-run-detail"),
    path("alignment-runs/<int:run_id>/cancel/", runs.RunCancelApi.as_view(kind=Run.Kind.ALIGNMENT), name="alignment-run-cancel"),
    path("generations/", runs.GenerationListApi.as_view(), name="generation-list"),
    path("generations/<int:run_id>/", runs.GenerationDetailApi.as_view(), name="generation-detail"),
    path("generations/<int:run_id>/send/", reward_models.GenerationSendApi.as_view(), name="generation-send"),
    path("generations/<int:run_id>/human-eval/", reward_models.GenerationHumanEvalApi.as_view(),
         name="generation-human-eval"),
    path("projects/<int:project_id>/pipeline/", pipelines.PipelineApi.as_view(), name="project-pipeline"),
    path("projects/<int:project_id>/model-agreement/", reward_models.AgreementApi.as_view(), name="project-model-agreement"),
]
