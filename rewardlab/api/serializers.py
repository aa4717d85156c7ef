"""Output shapes of runs and reward models, shared by the endpoints of each kind, and the hyperparameter inputs
built from rewardlab/hyperparameters.py (so the API documents exactly what the services accept)."""

from rest_framework import serializers

from rewardlab import hyperparameters as hp
from rewardlab.models import AlignmentRun, Generation, RewardEval, RewardModel, RewardRun, Run, ScoreRun

RUN_FIELDS = ["id", "kind", "project", "name", "status", "config", "phase", "activity", "step", "total_steps", "progress",
              "eta_seconds", "last_metrics", "error", "output_dir", "cancel_requested", "attempts", "max_attempts",
              "worker_host", "device", "created_by", "created_at", "started_at", "heartbeat_at", "finished_at"]


def hyperparameters_serializer(name: str, params: tuple[hp.Param, ...]) -> type[serializers.Serializer]:
    """A serializer with one optional field per parameter: typed and documented; the service checks ranges."""
    def field(p: hp.Param) -> serializers.Field:
        kwargs = {"required": False, "allow_null": True, "help_text": p.help or None}
        if p.choices:
            return serializers.ChoiceField(choices=p.choices, **kwargs)
        return {int: serializers.IntegerField, float: serializers.FloatField, str: serializers.CharField,
                bool: serializers.BooleanField, dict: serializers.DictField, list: serializers.ListField}[p.type](**kwargs)

    def to_internal_value(self, data):
        unknown = sorted(set(data) - set(self.fields)) if isinstance(data, dict) else []
        if unknown:
            raise serializers.ValidationError({k: ["Unknown setting."] for k in unknown})
        return serializers.Serializer.to_internal_value(self, data)

    fields = {p.name: field(p) for p in params}
    return type(name, (serializers.Serializer,), {**fields, "to_internal_value": to_internal_value})


RewardTrainHyperparameters = hyperparameters_serializer("RewardTrainHyperparameters", hp.REWARD_TRAIN)
# One input for every method: the service checks each method's own settings (Flow-NRG: hp.LATENT_REWARD).
AlignmentHyperparameters = hyperparameters_serializer("AlignmentHyperparameters", tuple(
    {p.name: p for p in (*hp.LATENT_REWARD, *hp.ALIGNMENT)}.values()))
GenerationHyperparameters = hyperparameters_serializer("GenerationHyperparameters", hp.GENERATION)


class RunOutput(serializers.ModelSerializer):
    # Plain strings in the schema: enums named "kind"/"status" would collide with the annotation app's.
    kind = serializers.CharField(read_only=True, help_text=", ".join(Run.Kind.values))
    status = serializers.CharField(read_only=True, help_text=", ".join(Run.Status.values))
    created_by = serializers.CharField(source="created_by.username", default=None)
    progress_url = serializers.SerializerMethodField()

    class Meta:
        model = Run
        fields = [*RUN_FIELDS, "progress_url"]

    def get_progress_url(self, run: Run) -> str:
        return f"/api/v1/runs/{run.pk}/progress/"


class RewardModelOutput(serializers.ModelSerializer):
    evaluations = serializers.SerializerMethodField()

    class Meta:
        model = RewardModel
        fields = ["id", "project", "name", "checkpoint_dir", "base_model_path", "dimensions", "source_run", "is_active",
                  "promoted_at", "created_at", "evaluations"]

    def get_evaluations(self, model: RewardModel) -> list[int]:
        return [e.pk for e in model.evaluations.all()]


class RewardRunOutput(RunOutput):
    reward_model = serializers.SerializerMethodField()

    class Meta:
        model = RewardRun
        fields = [*RunOutput.Meta.fields, "dataset_version", "base_model_path", "dimensions", "train_result",
                  "checkpoint_dir", "reward_model"]

    def get_reward_model(self, run: RewardRun) -> int | None:
        model = RewardModel.objects.filter(source_run=run).first()
        return model.pk if model else None


class RewardEvalOutput(RunOutput):
    class Meta:
        model = RewardEval
        fields = [*RunOutput.Meta.fields, "reward_model", "dataset_version", "split", "benchmark_csv", "results"]


class ScoreRunOutput(RunOutput):
    class Meta:
        model = ScoreRun
        fields = [*RunOutput.Meta.fields, "reward_model", "scored_count"]


class AlignmentRunOutput(RunOutput):
    class Meta:
        model = AlignmentRun
        fields = [*RunOutput.Meta.fields, "method", "dataset_version", "base_model_path", "reward_model", "dimensions",
                  "adapter_dir", "latent_reward_dir", "win_rate", "win_rate_ci95", "win_rate_n"]


class GenerationOutput(RunOutput):
    class Meta:
        model = Generation
        fields = [*RunOutput.Meta.fields, "base_model_path", "alignment_run", "nrg_run", "nrg_weights", "prompts", "seeds",
                  "videos", "round_status", "round_message", "round_video_ids", "round_pair_count"]


OUTPUTS: dict[str, type[RunOutput]] = {
    Run.Kind.REWARD_TRAIN: RewardRunOutput,
    Run.Kind.REWARD_EVAL: RewardEvalOutput,
    Run.Kind.SCORING: ScoreRunOutput,
    Run.Kind.ALIGNMENT: AlignmentRunOutput,
    Run.Kind.GENERATION: GenerationOutput,
}
