"""Projects, media, pairs and the judgments people make about them.

Invariants live in the database: unique and check constraints, foreign keys, and indexes named for the
query they serve.
"""

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Greatest, Least

DEFAULT_DIMENSIONS = [
    {"key": "vq", "label": "Visual Quality", "description": "Sharpness, detail, colour, artefacts: which looks better as still images?"},
    {"key": "mq", "label": "Motion Quality", "description": "Smooth, natural, physically plausible motion without jitter or warping."},
    {"key": "ta", "label": "Text Alignment", "description": "How faithfully the video shows what the prompt asks for."},
    {"key": "overall", "label": "Overall", "description": "All things considered, which video would you rather keep?"},
]


def default_dimensions() -> list[dict]:
    return [dict(d) for d in DEFAULT_DIMENSIONS]


class Outcome(models.TextChoices):
    """A judgment per dimension, always in the pair's canonical A/B order."""

    A = "A"
    B = "B"
    TIE = "tie"


class JobStatus(models.TextChoices):
    """Where a background job (an import, a dataset version) stands; a worker moves it forward, never back."""

    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class WorkerHeld(models.Model):
    """A row a worker task works on (a video's processing, an import, a dataset version): who holds it, so the
    sweeper (annotation/services/stale_jobs.py) can tell work left behind by a dead worker from work queued."""

    heartbeat_at = models.DateTimeField(null=True, blank=True, help_text="When a worker last claimed it or showed "
                                        "progress; empty while no worker holds it.")
    requeues = models.PositiveSmallIntegerField(default=0, help_text="Times the sweeper put it back on the queue "
                                                "after its worker died.")

    class Meta:
        abstract = True


class Project(models.Model):
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    dimensions = models.JSONField(default=default_dimensions,
                                  help_text='The judged dimensions, in order: a list of {"key", "label", "description"}.')
    overlap = models.PositiveSmallIntegerField(default=3,
                                               help_text="Judgments each pair collects, each from a different annotator (1-50).")
    lease_seconds = models.PositiveIntegerField(default=600,
                                                help_text="How long an annotator holds a pair before it goes back to the queue (at least 30).")
    guidelines = models.TextField(blank=True, help_text="Shown to annotators next to the videos.")
    gold_ratio = models.FloatField(default=0.05, help_text="Share of gold pairs mixed into an annotator's queue (0-1).")
    # Media limits checked at ingest.
    max_duration_s = models.FloatField(default=60.0, help_text="Longest video accepted at ingest, in seconds.")
    max_width = models.PositiveIntegerField(default=4096, help_text="Widest video accepted at ingest, in pixels.")
    max_height = models.PositiveIntegerField(default=4096, help_text="Tallest video accepted at ingest, in pixels.")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(condition=Q(overlap__gte=1) & Q(overlap__lte=50), name="project_overlap_1_50"),
            models.CheckConstraint(condition=Q(lease_seconds__gte=30), name="project_lease_at_least_30s"),
            models.CheckConstraint(condition=Q(gold_ratio__gte=0) & Q(gold_ratio__lte=1), name="project_gold_ratio_0_1"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def dimension_keys(self) -> list[str]:
        return [d["key"] for d in self.dimensions]

    def dimension_columns(self, keys) -> list[tuple[str, str]]:
        """(key, label) of ``keys`` in this project's order of dimensions; keys it does not have come last."""
        labels = {d["key"]: d.get("label") or d["key"] for d in self.dimensions}
        ordered = [k for k in labels if k in keys]
        return [(k, labels.get(k, k)) for k in ordered + [k for k in keys if k not in labels]]


class Membership(models.Model):
    class Role(models.TextChoices):
        ANNOTATOR = "annotator"
        MANAGER = "manager"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=Role.choices)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["project", "user"], name="membership_one_per_user_and_project"),
            models.CheckConstraint(condition=Q(role__in=["annotator", "manager"]), name="membership_role_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.user} @ {self.project} ({self.role})"


class Prompt(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="prompts")
    text = models.TextField()
    text_sha256 = models.CharField(max_length=64,
                                   help_text="sha256 of the text: a project holds each prompt text once.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["project", "text_sha256"], name="prompt_unique_text_per_project")]

    def __str__(self) -> str:
        return self.text[:80]


class GenerationModel(models.Model):
    """The text-to-video model (or checkpoint) that made a video. Never shown to annotators."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="generation_models")
    name = models.CharField(max_length=200)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["project", "name"], name="generation_model_unique_name")]

    def __str__(self) -> str:
        return self.name


class Video(WorkerHeld):
    class Status(models.TextChoices):
        PENDING = "pending"
        READY = "ready"
        FAILED = "failed"

    class Source(models.TextChoices):
        UPLOAD = "upload"
        MANIFEST = "manifest"
        FOLDER = "folder"
        REWARDBENCH = "rewardbench"
        GENERATED = "generated"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="videos")
    prompt = models.ForeignKey(Prompt, on_delete=models.CASCADE, related_name="videos")
    generation_model = models.ForeignKey(GenerationModel, on_delete=models.PROTECT, related_name="videos")
    seed = models.BigIntegerField(null=True, blank=True, help_text="The generator's sampling seed, when known.")
    source = models.CharField(max_length=16, choices=Source.choices, default=Source.UPLOAD,
                              help_text="How the video arrived: upload, manifest, folder, RewardBench CSV or a generation run.")
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.PENDING,
                              help_text="pending until a media worker has probed it and made the playback copy; failed says why in error.")
    error = models.TextField(blank=True, help_text="Why processing failed.")
    # Storage keys relative to MEDIA_ROOT (or the bucket): the original as received, the browser-safe copy, a poster.
    original = models.CharField(max_length=500,
                                help_text="Storage key (under MEDIA_ROOT or the bucket) of the file as received.")
    original_name = models.CharField(max_length=500, blank=True,
                                     help_text="The file's name as uploaded or imported; never shown to annotators.")
    playback = models.CharField(max_length=500, blank=True,
                                help_text="Storage key of the browser-safe H.264 copy annotators watch.")
    poster = models.CharField(max_length=500, blank=True, help_text="Storage key of the poster image.")
    sha256 = models.CharField(max_length=64, null=True, blank=True,
                              help_text="sha256 of the original file: the video's identity, once per project. Null "
                                        "while a file registered in place waits for its media task to hash it.")
    size_bytes = models.BigIntegerField(default=0)
    duration_s = models.FloatField(null=True, blank=True)
    fps = models.FloatField(null=True, blank=True)
    num_frames = models.PositiveIntegerField(null=True, blank=True)
    width = models.PositiveIntegerField(null=True, blank=True)
    height = models.PositiveIntegerField(null=True, blank=True)
    codec = models.CharField(max_length=32, blank=True)
    meta = models.JSONField(default=dict, blank=True, help_text="Free-form metadata from the import, as a JSON object.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["project", "sha256"], name="video_dedupe_by_sha256"),
            models.CheckConstraint(condition=Q(status__in=["pending", "ready", "failed"]), name="video_status_valid"),
        ]
        indexes = [
            models.Index(fields=["project", "status"], name="video_list_by_status"),
            models.Index(fields=["project", "prompt", "status"], name="video_ready_per_prompt"),
        ]

    def __str__(self) -> str:
        return f"video {self.pk} ({self.status})"


class Pair(models.Model):
    """Two ready videos of one prompt. Counters on the row let the queue claim without COUNT scans."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="pairs")
    prompt = models.ForeignKey(Prompt, on_delete=models.CASCADE, related_name="pairs")
    video_a = models.ForeignKey(Video, on_delete=models.CASCADE, related_name="pairs_as_a")
    video_b = models.ForeignKey(Video, on_delete=models.CASCADE, related_name="pairs_as_b")
    is_gold = models.BooleanField(default=False,
                                  help_text="A pair with a known answer (GoldAnswer), mixed in to check annotators.")
    # How many judgments this pair needs (the project's overlap when made), has, and has out on lease.
    target = models.PositiveSmallIntegerField(default=3,
                                              help_text="Judgments this pair needs: the project's overlap when it was made.")
    done_count = models.PositiveSmallIntegerField(default=0,
                                                  help_text="Judgments submitted so far (never above target).")
    leased_count = models.PositiveSmallIntegerField(default=0, help_text="Live leases on this pair right now.")
    # A random key fixed at creation: "random among equals" without ORDER BY random().
    shuffle_key = models.IntegerField(default=0,
                                      help_text="A random key fixed at creation: the queue's order among equally judged pairs.")
    strategy = models.CharField(max_length=16, blank=True, help_text="The pairing strategy that made this pair.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=~Q(video_a=F("video_b")), name="pair_two_different_videos"),
            models.UniqueConstraint(Least("video_a", "video_b"), Greatest("video_a", "video_b"), name="pair_unordered_unique"),
            models.CheckConstraint(condition=Q(done_count__lte=F("target")), name="pair_never_over_target"),
            models.CheckConstraint(
                condition=Q(done_count__gte=0) & Q(leased_count__gte=0), name="pair_counters_non_negative"
            ),
        ]
        indexes = [
            # Only pairs with a free slot are in it, in claim order: most judged first (breadth-first), then the
            # fixed random shuffle_key. The claim reads a short window at its front and never meets a full pair.
            models.Index(
                fields=["project", "is_gold", "-done_count", "shuffle_key"],
                condition=Q(done_count__lt=F("target") - F("leased_count")),
                name="pair_queue_open",
            ),
        ]

    def __str__(self) -> str:
        return f"pair {self.pk}"


class Assignment(models.Model):
    """One annotator's lease on one pair, and the left/right order they were shown."""

    class Status(models.TextChoices):
        LEASED = "leased"
        SUBMITTED = "submitted"
        SKIPPED = "skipped"
        EXPIRED = "expired"

    class Side(models.TextChoices):
        A = "A"
        B = "B"

    pair = models.ForeignKey(Pair, on_delete=models.CASCADE, related_name="assignments")
    annotator = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="assignments")
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.LEASED)
    shown_left = models.CharField(max_length=1, choices=Side.choices,
                                  help_text="Which canonical video, A or B, this annotator saw on the left.")
    leased_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(help_text="The lease lapses here unless submitted or skipped first.")
    finished_at = models.DateTimeField(null=True, blank=True)
    skip_reason = models.CharField(max_length=500, blank=True, help_text="What the annotator said when skipping.")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["pair", "annotator"], name="assignment_one_per_annotator_and_pair"),
            models.CheckConstraint(condition=Q(shown_left__in=["A", "B"]), name="assignment_shown_left_valid"),
        ]
        indexes = [
            models.Index(fields=["annotator", "status", "expires_at"], name="assignment_live_lease"),
            models.Index(fields=["status", "expires_at"], name="assignment_expiry_sweep"),
        ]

    def __str__(self) -> str:
        return f"assignment {self.pk} ({self.status})"


class Judgment(models.Model):
    """Per-dimension outcomes in canonical order: {"vq": "A", "mq": "tie", ...}."""

    pair = models.ForeignKey(Pair, on_delete=models.CASCADE, related_name="judgments")
    assignment = models.OneToOneField(Assignment, null=True, blank=True, on_delete=models.CASCADE, related_name="judgment",
                                      help_text="The lease it answered; empty for imported judgments.")
    annotator = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="judgments")
    choices = models.JSONField(help_text='Outcome per dimension in canonical order: {"vq": "A" | "B" | "tie", ...}.')
    shown_left = models.CharField(max_length=1, blank=True,
                                  help_text="Which video, A or B, was on the left; empty for imported judgments.")
    duration_ms = models.PositiveIntegerField(null=True, blank=True,
                                              help_text="Time from the pair appearing to the submit.")
    comment = models.TextField(blank=True)
    is_gold = models.BooleanField(default=False,
                                  help_text="Given on a gold pair (kept out of alpha, consensus and the leaderboard).")
    imported = models.BooleanField(default=False,
                                   help_text="Came from an import rather than from an annotator's lease.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(imported=True) | Q(assignment__isnull=False), name="judgment_from_assignment_or_import"
            ),
        ]
        indexes = [
            models.Index(fields=["pair"], name="judgment_by_pair"),
            models.Index(fields=["annotator", "created_at"], name="judgment_by_annotator_time"),
        ]

    def __str__(self) -> str:
        return f"judgment {self.pk}"


class GoldAnswer(models.Model):
    """The known answer for a gold pair, per dimension, in canonical order."""

    pair = models.OneToOneField(Pair, on_delete=models.CASCADE, related_name="gold_answer")
    choices = models.JSONField(help_text='The known outcome per dimension in canonical order: {"overall": "A", ...}.')
    note = models.TextField(blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)


class ImportJob(WorkerHeld):
    """A manifest or RewardBench CSV import, split into chunks that media workers process in parallel."""

    class Kind(models.TextChoices):
        MANIFEST = "manifest"
        REWARDBENCH = "rewardbench"

    Status = JobStatus

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="imports")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    source = models.CharField(max_length=500, help_text="Manifest path under IMPORT_ROOT, or the stored upload.")
    source_sha256 = models.CharField(max_length=64, blank=True, help_text="sha256 of the source file.")
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.QUEUED)
    total_rows = models.PositiveIntegerField(default=0, help_text="Rows in the source.")
    done_rows = models.PositiveIntegerField(default=0, help_text="Rows imported so far (failed ones are counted in failed_rows).")
    failed_rows = models.PositiveIntegerField(default=0, help_text="Rows that failed (each with its reason in errors).")
    errors = models.JSONField(default=list, blank=True,
                              help_text='The failed rows and why: [{"row": 3, "error": "..."}].')
    error = models.TextField(blank=True, help_text="Why the whole import failed, if it did.")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    in_place = models.BooleanField(default=False, help_text="Register files where they are (storage key or "
                                   "import root) instead of copying them; media tasks hash and probe them.")


class ImportChunk(WorkerHeld):
    """A run of consecutive manifest rows, one media task's work; ``next_row`` moves in the rows' transactions."""

    job = models.ForeignKey(ImportJob, on_delete=models.CASCADE, related_name="chunks")
    first_row = models.PositiveIntegerField()  # 1-based, as errors name rows
    # The parsed rows as JSON text (a string is why a row could not be parsed). Text, not jsonb: jsonb refuses
    # a NUL character, and such a row must reach its own transaction to fail there with a reason.
    rows = models.TextField()
    context = models.JSONField(default=dict)  # base folder, video source, CSV columns: what the rows are read with
    next_row = models.PositiveIntegerField()
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["job", "first_row"], name="import_chunk_once_per_start")]


class DatasetVersion(WorkerHeld):
    """An immutable snapshot of judgments with its split, files and content hash."""

    Status = JobStatus

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="dataset_versions")
    number = models.PositiveIntegerField(help_text="The version's number within its project: v1, v2, ...")
    name = models.CharField(max_length=200, blank=True)
    filters = models.JSONField(default=dict, blank=True,
                               help_text="Which judgments it holds: dimensions, annotators, dates, gold, imported, agreement, snapshot.")
    granularity = models.CharField(max_length=16, default="consensus",
                                   help_text="consensus (one row per pair) or raw (one row per judgment).")
    splits = models.JSONField(default=dict, blank=True,
                              help_text='Fraction of prompts per split, e.g. {"train": 0.8, "test": 0.2}.')
    seed = models.BigIntegerField(default=0, help_text="Seeds the prompt-to-split hash and the annotator pseudonyms.")
    formats = models.JSONField(default=list, help_text="Files written: jsonl, csv, parquet, hf, rewardbench.")
    include_videos = models.CharField(max_length=8, blank=True,
                                      help_text="Videos bundled with it: empty (none), folder, tar or zip.")
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.QUEUED)
    progress = models.FloatField(default=0.0, help_text="Fraction written so far (0-1).")
    row_counts = models.JSONField(default=dict, blank=True, help_text="Rows per split.")
    sha256 = models.CharField(max_length=64, blank=True,
                              help_text="sha256 of its SHA256SUMS file: the version's content hash.")
    manifest = models.JSONField(default=dict, blank=True,
                                help_text="The manifest.json written with it: request, counts, files, code version.")
    folder = models.CharField(max_length=500, blank=True, help_text="Its folder, EXPORT_ROOT/<project>/v<number>/.")
    error = models.TextField(blank=True, help_text="Why writing it failed.")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["project", "number"], name="dataset_version_number_unique")]


class Adjudication(models.Model):
    """A manager's decision for a pair whose annotators did not reach a majority; it overrides the vote."""

    pair = models.OneToOneField(Pair, on_delete=models.CASCADE, related_name="adjudication")
    choices = models.JSONField(help_text="The decided outcome per dimension in canonical order; it replaces the vote's consensus.")
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
