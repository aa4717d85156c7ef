"""Reward models, and the runs that train, evaluate, align and generate on GPU workers.

Every kind of run shares one ``Run`` row (multi-table inheritance): its lifecycle, progress, heartbeat and
metric points live in one table, so one sweeper query finds every run whose worker died, one endpoint
streams any run's progress, and each kind adds only its own inputs and outputs in a child table.

Lifecycle: queued → running → succeeded | failed | cancelled. A running run whose worker stops sending
heartbeats goes back to queued (and resumes from its last checkpoint) until ``max_attempts`` is spent,
then fails.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q

from annotation.models import DatasetVersion, Project, Video


class Run(models.Model):
    class Kind(models.TextChoices):
        REWARD_TRAIN = "reward_train", "Reward training"
        REWARD_EVAL = "reward_eval", "Reward evaluation"
        SCORING = "scoring", "Video scoring"
        ALIGNMENT = "alignment", "Alignment"
        GENERATION = "generation", "Generation"

    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        SUCCEEDED = "succeeded"
        FAILED = "failed"
        CANCELLED = "cancelled"

    TERMINAL = (Status.SUCCEEDED, Status.FAILED, Status.CANCELLED)

    kind = models.CharField(max_length=16, choices=Kind.choices)
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="runs")
    name = models.CharField(max_length=200, blank=True)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.QUEUED)
    # The resolved hyperparameters the ML code was given (what a rerun needs to reproduce this one).
    config = models.JSONField(default=dict, blank=True,
                              help_text="The resolved hyperparameters the ML code was given: what a rerun needs to reproduce this one.")

    # Progress of the current phase ("train", "evaluate", ...); `progress` is the whole run's fraction done.
    phase = models.CharField(max_length=32, blank=True, help_text="The current phase: train, evaluate, ...")
    activity = models.CharField(max_length=120, blank=True,
                                help_text="What the run is doing now (loading weights, encoding latents, sampling, ...).")
    step = models.PositiveIntegerField(default=0, help_text="Step reached in the current phase.")
    total_steps = models.PositiveIntegerField(default=0, help_text="Steps in the current phase.")
    progress = models.FloatField(default=0.0, help_text="Fraction of the whole run done (0-1).")
    eta_seconds = models.FloatField(null=True, blank=True, help_text="Estimated seconds left in the current phase.")
    last_metrics = models.JSONField(default=dict, blank=True, help_text="The latest metric point's values.")
    log = models.TextField(blank=True, help_text="What the run reported, newest last.")
    error = models.TextField(blank=True, help_text="The failure's message and traceback.")
    output_dir = models.CharField(max_length=500, blank=True,
                                  help_text="Its folder under RUNS_ROOT: checkpoints, results, videos.")

    cancel_requested = models.BooleanField(default=False,
                                           help_text="Set by Cancel; the worker stops at its next heartbeat.")
    attempts = models.PositiveSmallIntegerField(default=0,
                                                help_text="Starts so far: the first and each resume after a lost worker.")
    max_attempts = models.PositiveSmallIntegerField(default=3,
                                                    help_text="Starts allowed before a run whose worker keeps dying fails.")
    task_id = models.CharField(max_length=64, blank=True, help_text="The Celery task that carries it.")
    worker_host = models.CharField(max_length=200, blank=True, help_text="Host of the worker running it.")
    worker_pid = models.IntegerField(null=True, blank=True,
                                     help_text="Process id of the worker running it (to tell a dead worker from a live one).")
    device = models.CharField(max_length=200, blank=True,
                              help_text="What it ran on, e.g. cuda x1 (the GPU; CUDA_VISIBLE_DEVICES) or cpu (8 threads).")

    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    queued_at = models.DateTimeField(null=True, blank=True, help_text="When its task was last sent to the queue.")
    started_at = models.DateTimeField(null=True, blank=True, help_text="When a worker last started or resumed it.")
    heartbeat_at = models.DateTimeField(null=True, blank=True,
                                        help_text="The running worker's last sign of life; the sweeper takes back runs where it is old.")
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(kind__in=["reward_train", "reward_eval", "scoring", "alignment", "generation"]),
                                   name="run_kind_valid"),
            models.CheckConstraint(condition=Q(status__in=["queued", "running", "succeeded", "failed", "cancelled"]),
                                   name="run_status_valid"),
            models.CheckConstraint(condition=Q(progress__gte=0) & Q(progress__lte=1), name="run_progress_0_1"),
            models.CheckConstraint(condition=~Q(status="running") | Q(heartbeat_at__isnull=False),
                                   name="run_running_has_heartbeat"),
        ]
        indexes = [
            models.Index(fields=["status", "heartbeat_at"], name="run_stale_sweep"),
            models.Index(fields=["status", "queued_at"], name="run_unclaimed_sweep"),
            models.Index(fields=["kind", "-created_at"], name="run_list_by_kind"),
            models.Index(fields=["project", "kind", "-created_at"], name="run_list_by_project"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} run {self.pk} ({self.status})"

    @property
    def is_terminal(self) -> bool:
        return self.status in self.TERMINAL


class RunMetric(models.Model):
    """One logged point of a run: a training step's loss/accuracy/lr, an evaluation's progress, ..."""

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="metrics")
    phase = models.CharField(max_length=32, help_text="The run phase the point belongs to.")
    step = models.PositiveIntegerField()
    values = models.JSONField(help_text='The values logged, e.g. {"loss": 0.69, "acc": {"vq": 0.5}, "lr": 1e-4}.')
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["run", "id"], name="run_metric_stream")]


class RewardModel(models.Model):
    """A registered VideoReward checkpoint; at most one per project is the project's reward model."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="reward_models")
    name = models.CharField(max_length=200)
    checkpoint_dir = models.CharField(max_length=500,
                                      help_text="The checkpoint folder (adapter, head, tokens, reward_config.json).")
    base_model_path = models.CharField(max_length=500,
                                       help_text="The Qwen2-VL base it was trained from, under BASE_MODELS_ROOT.")
    dimensions = models.JSONField(default=list, help_text="The dimension keys it scores, in order.")
    source_run = models.OneToOneField("RewardRun", null=True, blank=True, on_delete=models.SET_NULL,
                                      related_name="reward_model",
                                      help_text="The training run that made it; empty for a registered checkpoint.")
    is_active = models.BooleanField(default=False, help_text="The project's reward model (pair strategy, quality page).")
    promoted_at = models.DateTimeField(null=True, blank=True)
    promoted_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["project"], condition=Q(is_active=True), name="reward_model_one_active_per_project"),
            models.UniqueConstraint(fields=["project", "checkpoint_dir"], name="reward_model_checkpoint_once_per_project"),
        ]

    def __str__(self) -> str:
        return self.name


class RewardRun(Run):
    """Train VideoReward on a dataset version, evaluate it on the held-out split, register the checkpoint."""

    dataset_version = models.ForeignKey(DatasetVersion, on_delete=models.PROTECT, related_name="reward_runs")
    base_model_path = models.CharField(max_length=500,
                                       help_text="The Qwen2-VL base to train from, under BASE_MODELS_ROOT.")
    dimensions = models.JSONField(default=list, help_text="The dimension keys to learn, in order.")
    train_result = models.JSONField(default=dict, blank=True,
                                    help_text="What training reported (checkpoint, steps, normalisation, validation), without the per-step history.")
    checkpoint_dir = models.CharField(max_length=500, blank=True, help_text="The checkpoint it wrote.")


class RewardEval(Run):
    """Pairwise accuracy (with and without ties) of a reward model on a dataset version split or a benchmark CSV."""

    reward_model = models.ForeignKey(RewardModel, on_delete=models.CASCADE, related_name="evaluations")
    dataset_version = models.ForeignKey(DatasetVersion, null=True, blank=True, on_delete=models.PROTECT,
                                        related_name="reward_evals")
    split = models.CharField(max_length=16, blank=True,
                             help_text="The dataset version's split evaluated on (with dataset_version).")
    benchmark_csv = models.CharField(max_length=500, blank=True,
                                     help_text="A RewardBench-style CSV evaluated on instead of a dataset version.")
    results = models.JSONField(default=dict, blank=True,
                               help_text="The evaluation's metrics: accuracy with and without ties per dimension.")

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=(Q(dataset_version__isnull=False) & Q(benchmark_csv="")) | (Q(dataset_version__isnull=True) & ~Q(benchmark_csv="")),
                name="reward_eval_one_source",
            ),
        ]


class ScoreRun(Run):
    """Score a project's ready videos with a reward model (for the uncertainty strategy and the quality page)."""

    reward_model = models.ForeignKey(RewardModel, on_delete=models.CASCADE, related_name="score_runs")
    scored_count = models.PositiveIntegerField(default=0, help_text="Videos scored so far.")


class VideoScore(models.Model):
    reward_model = models.ForeignKey(RewardModel, on_delete=models.CASCADE, related_name="video_scores")
    video = models.ForeignKey(Video, on_delete=models.CASCADE, related_name="reward_scores")
    scores = models.JSONField(help_text='The reward per dimension, e.g. {"vq": 0.3, "overall": 0.4}.')
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["reward_model", "video"], name="video_score_once_per_model")]


class AlignmentRun(Run):
    """Fine-tune a rectified-flow generator on preferences: a Flow-DPO or Flow-RWR LoRA adapter (then its win
    rates over the base model), or the latent reward model that Flow-NRG guides sampling with."""

    class Method(models.TextChoices):
        FLOW_DPO = "flow_dpo", "Flow-DPO"
        FLOW_RWR = "flow_rwr", "Flow-RWR"
        FLOW_NRG = "flow_nrg", "Flow-NRG latent reward"

    method = models.CharField(max_length=16, choices=Method.choices)
    dataset_version = models.ForeignKey(DatasetVersion, on_delete=models.PROTECT, related_name="alignment_runs")
    base_model_path = models.CharField(max_length=500, help_text="The generator to align, under BASE_MODELS_ROOT.")
    reward_model = models.ForeignKey(RewardModel, null=True, blank=True, on_delete=models.SET_NULL, related_name="alignment_runs",
                                     help_text="VideoReward for Flow-RWR weights, and the judge of win rates.")
    adapter_dir = models.CharField(max_length=500, blank=True,
                                   help_text="The Flow-DPO / Flow-RWR LoRA adapter it wrote.")
    latent_reward_dir = models.CharField(max_length=500, blank=True,
                                         help_text="The Flow-NRG latent reward model it wrote.")
    dimensions = models.JSONField(default=list, blank=True, help_text="What the latent reward model scores.")
    win_rate = models.JSONField(default=dict, blank=True,
                                help_text="Per dimension, how often the aligned model beat the base, judged by reward_model.")
    win_rate_n = models.PositiveIntegerField(default=0, help_text="Videos behind win_rate.")
    win_rate_ci95 = models.JSONField(default=dict, blank=True,
                                     help_text="Per dimension, the 95% bootstrap interval [low, high] of win_rate.")

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(method__in=["flow_dpo", "flow_rwr", "flow_nrg"]), name="alignment_method_valid"),
        ]


class Generation(Run):
    """Videos sampled from a base model, optionally with an aligned adapter and/or Flow-NRG reward guidance."""

    base_model_path = models.CharField(max_length=500,
                                       help_text="The generator to sample from, under BASE_MODELS_ROOT.")
    alignment_run = models.ForeignKey(AlignmentRun, null=True, blank=True, on_delete=models.PROTECT, related_name="generations",
                                      help_text="A Flow-DPO / Flow-RWR run whose adapter to sample with.")
    nrg_run = models.ForeignKey(AlignmentRun, null=True, blank=True, on_delete=models.PROTECT, related_name="guided_generations",
                                help_text="A Flow-NRG run whose latent reward model guides sampling.")
    nrg_weights = models.JSONField(default=dict, blank=True,
                                   help_text='Flow-NRG guidance strength per dimension, e.g. {"vq": 1.0, "mq": 0.5}.')
    prompts = models.JSONField(default=list, help_text="The prompts to sample.")
    seeds = models.JSONField(default=list, help_text="The seeds each prompt is sampled with.")
    # Each video's "role": "candidate" (what the run asked for) or "baseline" (the base model's, same prompt and seed).
    videos = models.JSONField(default=list, blank=True,
                              help_text='What it made: [{"prompt", "seed", "path", "model"}].')
    # "Send to project as a new annotation round": ingest the videos and pair them for annotators.
    round_status = models.CharField(max_length=12, blank=True,
                                    help_text="Sending the videos to the project as an annotation round: empty, sending, sent or failed.")
    round_message = models.TextField(blank=True, help_text="What sending the round said (or why it failed).")
    round_video_ids = models.JSONField(default=list, blank=True, help_text="The project videos the round created.")
    round_pair_count = models.PositiveIntegerField(default=0, help_text="Pairs the round created for annotators.")


# Each kind's own table: a Run row's ``kind`` says which of these holds its inputs and outputs.
KIND_MODELS: dict[str, type[Run]] = {
    Run.Kind.REWARD_TRAIN: RewardRun,
    Run.Kind.REWARD_EVAL: RewardEval,
    Run.Kind.SCORING: ScoreRun,
    Run.Kind.ALIGNMENT: AlignmentRun,
    Run.Kind.GENERATION: Generation,
}


class Pipeline(models.Model):
    """A project's loop that runs itself: enough new judgments make a dataset version, a reward run on it, a gate
    that compares the new reward model with the current one on a fixed set, and, when it is promoted, an
    alignment run. The settings are the requests of those steps, checked as the runs themselves check them
    (rewardlab/pipeline_settings.py); each change leaves a PipelineChange."""

    project = models.OneToOneField(Project, on_delete=models.CASCADE, related_name="pipeline")
    enabled = models.BooleanField(default=False, help_text="Off: no new execution starts; one in progress runs to its end.")
    every_judgments = models.PositiveIntegerField(help_text="New non-gold judgments since the last pipeline version.")
    min_interval_seconds = models.PositiveIntegerField(default=0, help_text="At least this long between two executions.")
    # Where the count of new judgments starts before the first execution: the pipeline counts what comes after it.
    counted_from_judgment_id = models.BigIntegerField(default=0)
    dataset = models.JSONField(default=dict)  # the export request: formats, granularity, splits, seed, filters
    reward = models.JSONField(default=dict)  # base_model_path, dimensions, hyperparameters, warm_start
    gate = models.JSONField(default=dict)  # mode, dataset_version+split | benchmark_csv, metric, margin, on
    alignment = models.JSONField(null=True, blank=True)  # method, base_model_path, hyperparameters; null: none
    updated_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.CheckConstraint(condition=Q(every_judgments__gte=1), name="pipeline_every_judgments_positive")]


class PipelineChange(models.Model):
    """The audit of a pipeline's settings: who changed what, when (each field's value before and after)."""

    pipeline = models.ForeignKey(Pipeline, on_delete=models.CASCADE, related_name="changes")
    changed_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    changed_at = models.DateTimeField(auto_now_add=True)
    changes = models.JSONField()  # {"enabled": {"from": false, "to": true}, ...}

    class Meta:
        ordering = ["-changed_at", "-id"]


class PipelineExecution(models.Model):
    """One pass of a project's pipeline: its trigger, the dataset version and runs it made, the gate's decision.

    waiting → running → succeeded | failed. At most one execution of a project runs and at most one waits (a
    trigger while one runs becomes the waiting one; later triggers fold into it, since it snapshots every
    judgment there is when it starts).
    """

    class Status(models.TextChoices):
        WAITING = "waiting"
        RUNNING = "running"
        SUCCEEDED = "succeeded"
        FAILED = "failed"

    class Step(models.TextChoices):
        DATASET = "dataset", "Dataset version"
        REWARD = "reward", "Reward run"
        EVALUATE = "evaluate", "Gate evaluation"
        ALIGN = "align", "Alignment run"

    class Decision(models.TextChoices):
        PROMOTE = "promote"
        KEEP = "keep"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="pipeline_executions")
    number = models.PositiveIntegerField()
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.WAITING)
    step = models.CharField(max_length=12, choices=Step.choices, blank=True)
    trigger = models.JSONField(default=dict)  # {"new_judgments": 31, "after_judgment_id": 120, "every_judgments": 30}
    until_judgment_id = models.BigIntegerField(null=True, blank=True, help_text="The last judgment its version may hold.")
    settings = models.JSONField(default=dict, blank=True)  # the pipeline's settings when it started
    dataset_version = models.ForeignKey(DatasetVersion, null=True, blank=True, on_delete=models.PROTECT,
                                        related_name="pipeline_executions")
    reward_run = models.ForeignKey(RewardRun, null=True, blank=True, on_delete=models.PROTECT, related_name="pipeline_executions")
    current_model = models.ForeignKey(RewardModel, null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
                                      help_text="The project's reward model when the gate ran.")
    new_eval = models.ForeignKey(RewardEval, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    current_eval = models.ForeignKey(RewardEval, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    decision = models.CharField(max_length=8, choices=Decision.choices, blank=True)
    gate = models.JSONField(default=dict, blank=True)  # the numbers the decision compared, the margin, the reason
    alignment_run = models.ForeignKey(AlignmentRun, null=True, blank=True, on_delete=models.PROTECT,
                                      related_name="pipeline_executions")
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-number"]
        constraints = [
            models.UniqueConstraint(fields=["project", "number"], name="pipeline_execution_number_unique"),
            models.UniqueConstraint(fields=["project"], condition=Q(status="running"), name="pipeline_one_running_per_project"),
            models.UniqueConstraint(fields=["project"], condition=Q(status="waiting"), name="pipeline_one_waiting_per_project"),
            models.CheckConstraint(condition=Q(status__in=["waiting", "running", "succeeded", "failed"]),
                                   name="pipeline_execution_status_valid"),
        ]
        indexes = [models.Index(fields=["status"], name="pipeline_execution_by_status")]

    def __str__(self) -> str:
        return f"pipeline execution {self.number} of project {self.project_id} ({self.status})"
