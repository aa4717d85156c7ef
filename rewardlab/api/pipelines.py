"""``GET/PUT /api/v1/projects/{id}/pipeline/``: the project's managers read the pipeline, its executions and
history; only admins (staff) change it."""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from annotation.permissions import project_for
from config.api import validated
from config.errors import Forbidden, NotFound
from rewardlab import pipeline_selectors
from rewardlab.api import serializers as out
from rewardlab.gate import METRICS, MODES, ON
from rewardlab.models import PipelineExecution
from rewardlab.services import pipelines


class DatasetRequest(serializers.Serializer):
    formats = serializers.ListField(child=serializers.CharField(), required=False, help_text="As an export; must include jsonl.")
    granularity = serializers.CharField(required=False)
    splits = serializers.DictField(child=serializers.FloatField(), required=False)
    seed = serializers.IntegerField(required=False)
    filters = serializers.DictField(required=False, help_text="As an export's; until_judgment_id is the pipeline's.")
    include_videos = serializers.CharField(required=False, allow_blank=True)


class RewardRequest(serializers.Serializer):
    base_model_path = serializers.CharField(help_text="A Qwen2-VL folder under BASE_MODELS_ROOT.")
    dimensions = serializers.ListField(child=serializers.CharField(), required=False, allow_null=True)
    hyperparameters = out.RewardTrainHyperparameters(required=False)
    warm_start = serializers.BooleanField(required=False, default=False,
                                          help_text="Start from the project's current reward model's weights.")


class GateRequest(serializers.Serializer):
    mode = serializers.ChoiceField(choices=MODES, required=False, default="beat")
    dataset_version = serializers.IntegerField(required=False, allow_null=True,
                                               help_text="A frozen version of this project whose split both models are scored on.")
    split = serializers.CharField(required=False, default="test")
    benchmark_csv = serializers.CharField(required=False, allow_blank=True, default="",
                                          help_text="Or a VideoGen-RewardBench CSV, relative to IMPORT_ROOT.")
    metric = serializers.ChoiceField(choices=METRICS, required=False, default="acc_with_ties")
    margin = serializers.FloatField(required=False, default=0.0, help_text="Promote when new - current >= margin.")
    on = serializers.ChoiceField(choices=ON, required=False, default="overall",
                                 help_text="overall, or every dimension both models score.")


class AlignmentRequest(serializers.Serializer):
    # A plain string in the schema: another enum named "method" would collide; the service checks it.
    method = serializers.CharField(help_text="flow_dpo or flow_rwr (with the promoted reward model).")
    base_model_path = serializers.CharField(help_text="A diffusers pipeline folder under BASE_MODELS_ROOT.")
    hyperparameters = out.AlignmentHyperparameters(required=False)


def _plain(value):
    """Validated data as plain JSON (nested OrderedDicts to dicts)."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


class StepOutput(serializers.Serializer):
    id = serializers.IntegerField()
    status = serializers.CharField()


class ExecutionOutput(serializers.ModelSerializer):
    dataset_version = serializers.SerializerMethodField()
    reward_run = StepOutput(allow_null=True)
    new_eval = StepOutput(allow_null=True)
    current_eval = StepOutput(allow_null=True)
    alignment_run = StepOutput(allow_null=True)
    new_model = serializers.SerializerMethodField()

    class Meta:
        model = PipelineExecution
        fields = ["id", "number", "status", "step", "trigger", "until_judgment_id", "dataset_version", "reward_run",
                  "new_model", "current_model", "new_eval", "current_eval", "decision", "gate", "alignment_run", "error",
                  "created_at", "started_at", "finished_at"]

    def get_dataset_version(self, execution: PipelineExecution) -> dict | None:
        version = execution.dataset_version
        return {"id": version.pk, "number": version.number, "status": version.status} if version else None

    def get_new_model(self, execution: PipelineExecution) -> int | None:
        run = execution.reward_run
        return getattr(getattr(run, "reward_model", None), "pk", None) if run else None


class PipelineApi(APIView):
    class InputSerializer(serializers.Serializer):
        enabled = serializers.BooleanField()
        every_judgments = serializers.IntegerField(min_value=1, help_text="New non-gold judgments that start an execution.")
        min_interval_seconds = serializers.IntegerField(min_value=0, required=False, default=0)
        dataset = DatasetRequest(required=False, default=dict)
        reward = RewardRequest()
        gate = GateRequest()
        alignment = AlignmentRequest(required=False, allow_null=True, default=None,
                                     help_text="Started with the newly promoted reward model; null: none.")

    class OutputSerializer(serializers.Serializer):
        project = serializers.IntegerField(source="pipeline.project_id")
        enabled = serializers.BooleanField(source="pipeline.enabled")
        every_judgments = serializers.IntegerField(source="pipeline.every_judgments")
        min_interval_seconds = serializers.IntegerField(source="pipeline.min_interval_seconds")
        dataset = serializers.DictField(source="pipeline.dataset")
        reward = serializers.DictField(source="pipeline.reward")
        gate = serializers.DictField(source="pipeline.gate")
        alignment = serializers.DictField(source="pipeline.alignment", allow_null=True)
        updated_by = serializers.CharField(source="pipeline.updated_by.username", default=None)
        updated_at = serializers.DateTimeField(source="pipeline.updated_at")
        new_judgments = serializers.IntegerField(help_text="Counted towards the next trigger.")
        changes = serializers.SerializerMethodField()
        executions = ExecutionOutput(many=True)
        history = serializers.SerializerMethodField()

        def get_changes(self, state) -> list[dict]:
            return [{"changed_by": c.changed_by.username if c.changed_by else None, "changed_at": c.changed_at,
                     "changes": c.changes} for c in state["changes"]]

        def get_history(self, state) -> list[dict]:
            return pipeline_selectors.pipeline_history(state["pipeline"].project, state["executions"])

    def _state(self, project) -> Response:
        state = pipeline_selectors.pipeline_state(project)
        if state is None:
            raise NotFound(f"Project {project.pk} has no pipeline yet; an admin sets one up with PUT on this address.",
                           code="no_pipeline")
        return Response(self.OutputSerializer(state).data)

    @extend_schema(responses=OutputSerializer)
    def get(self, request, project_id: int):
        return self._state(project_for(request.user, project_id, "manager"))

    @extend_schema(request=InputSerializer, responses=OutputSerializer)
    def put(self, request, project_id: int):
        project = project_for(request.user, project_id, "manager")
        if not request.user.is_staff:
            raise Forbidden("Only admins (staff users) change a project's pipeline; its managers may read it.")
        settings = _plain(validated(self.InputSerializer, request.data))
        pipelines.pipeline_update(project=project, settings=settings, changed_by=request.user)
        return self._state(project)
