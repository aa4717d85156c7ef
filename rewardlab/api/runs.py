"""Runs over HTTP (staff only): start one of each kind (202, queued on the gpu queue), list, follow, cancel."""

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from annotation.models import DatasetVersion, Project
from config.api import INT64_MAX, BoundedLimitOffsetPagination, IsStaff, PageParams, id_field, validated
from rewardlab import selectors
from rewardlab.api import serializers as out
from rewardlab.models import KIND_MODELS, AlignmentRun, RewardModel, Run
from rewardlab.services import runs, submit

LIST_FILTERS = [OpenApiParameter("project", int, description="Only this project's runs."),
                OpenApiParameter("status", str, enum=Run.Status.values, description="Only runs in this status."),
                PageParams]


class StaffApi(APIView):
    permission_classes = [IsStaff]


class ListFilters(serializers.Serializer):
    project = id_field(required=False)
    status = serializers.ChoiceField(choices=Run.Status.values, required=False)
    kind = serializers.ChoiceField(choices=Run.Kind.values, required=False)


def list_filters(request) -> dict:
    """The list's query parameters, checked (a bad one is a 400 that names it, not a 500)."""
    return validated(ListFilters, {k: v for k, v in request.query_params.items() if k in ListFilters().fields and v})


def _list(request, view: APIView, kind: str | None) -> Response:
    filters = list_filters(request)
    runs_ = selectors.runs_list(kind=kind, project_id=filters.get("project"), status=filters.get("status"))
    paginator = BoundedLimitOffsetPagination()
    page = paginator.paginate_queryset(runs_, request, view=view)
    serializer = out.OUTPUTS[kind] if kind else out.RunOutput
    return paginator.get_paginated_response(serializer(page, many=True).data)


def paginated(output: type[serializers.Serializer]) -> serializers.Serializer:
    """The schema of a limit/offset page of ``output``."""
    return inline_serializer(f"Paginated{output.__name__}", {
        "count": serializers.IntegerField(), "next": serializers.URLField(allow_null=True),
        "previous": serializers.URLField(allow_null=True), "results": output(many=True)})


def _accepted(run: Run) -> Response:
    return Response(out.OUTPUTS[run.kind](run).data, status=status.HTTP_202_ACCEPTED)


def _version(pk: int) -> DatasetVersion:
    return get_object_or_404(DatasetVersion.objects.select_related("project"), pk=pk)


def _reward_model(pk: int | None) -> RewardModel | None:
    return get_object_or_404(RewardModel, pk=pk) if pk is not None else None


class RunListApi(StaffApi):
    @extend_schema(operation_id="runs_list", parameters=[OpenApiParameter("kind", str, enum=Run.Kind.values), *LIST_FILTERS],
                   responses=paginated(out.RunOutput))
    def get(self, request):
        return _list(request, self, list_filters(request).get("kind"))


class RunProgressApi(StaffApi):
    class ParamsSerializer(serializers.Serializer):
        after = serializers.IntegerField(required=False, default=0, min_value=0, max_value=INT64_MAX,
                                         help_text="Only metric points with a larger id.")

    @extend_schema(parameters=[ParamsSerializer],
                   responses=inline_serializer("RunProgress", {"status": serializers.CharField(),
                                                               "progress": serializers.FloatField(),
                                                               "metrics": serializers.ListField()}))
    def get(self, request, run_id: int):
        run = get_object_or_404(Run, pk=run_id)
        after = validated(self.ParamsSerializer, request.query_params)["after"]
        return Response(selectors.run_progress(run=run, after=after))


class RunCancelApi(StaffApi):
    """``POST /runs/{id}/cancel/``, also routed as ``/reward-runs/{id}/cancel/`` and ``/alignment-runs/{id}/cancel/``."""

    kind: str | None = None

    @extend_schema(request=None, responses=out.RunOutput)
    def post(self, request, run_id: int):
        run = get_object_or_404(Run.objects.filter(kind=self.kind) if self.kind else Run.objects, pk=run_id)
        run = runs.run_cancel(run=run)
        return Response(out.OUTPUTS[run.kind](selectors.run_typed(run)).data)


class RunResumeApi(StaffApi):
    """``POST /runs/{id}/resume/``: a cancelled or failed run goes back on the queue and continues from its checkpoint."""

    @extend_schema(request=None, responses={202: out.RunOutput})
    def post(self, request, run_id: int):
        run = runs.run_resume(run=get_object_or_404(Run, pk=run_id))
        return Response(out.OUTPUTS[run.kind](selectors.run_typed(run)).data, status=status.HTTP_202_ACCEPTED)


class RewardRunListApi(StaffApi):
    class InputSerializer(serializers.Serializer):
        dataset_version = id_field(help_text="A succeeded dataset version exported with jsonl.")
        base_model_path = serializers.CharField(help_text="A Qwen2-VL folder under BASE_MODELS_ROOT.")
        name = serializers.CharField(required=False, allow_blank=True, default="", max_length=200)
        dimensions = serializers.ListField(child=serializers.CharField(), required=False,
                                           help_text="Default: the project's dimensions except overall.")
        hyperparameters = out.RewardTrainHyperparameters(required=False)

    @extend_schema(operation_id="reward_runs_list", parameters=LIST_FILTERS, responses=paginated(out.RewardRunOutput))
    def get(self, request):
        return _list(request, self, Run.Kind.REWARD_TRAIN)

    @extend_schema(request=InputSerializer, responses={202: out.RewardRunOutput})
    def post(self, request):
        v = validated(self.InputSerializer, request.data)
        run = submit.reward_run_create(created_by=request.user, dataset_version=_version(v["dataset_version"]),
                                       base_model_path=v["base_model_path"], name=v["name"], dimensions=v.get("dimensions"),
                                       hyperparameters=v.get("hyperparameters"))
        return _accepted(run)


class RewardEvalListApi(StaffApi):
    class InputSerializer(serializers.Serializer):
        reward_model = id_field()
        dataset_version = id_field(required=False, allow_null=True)
        split = serializers.CharField(required=False, default="test", help_text="train, val or test (with dataset_version).")
        benchmark_csv = serializers.CharField(required=False, allow_blank=True, default="",
                                              help_text="A VideoGen-RewardBench CSV, relative to IMPORT_ROOT.")
        name = serializers.CharField(required=False, allow_blank=True, default="", max_length=200)

    @extend_schema(operation_id="reward_evals_list", parameters=LIST_FILTERS, responses=paginated(out.RewardEvalOutput))
    def get(self, request):
        return _list(request, self, Run.Kind.REWARD_EVAL)

    @extend_schema(request=InputSerializer, responses={202: out.RewardEvalOutput})
    def post(self, request):
        v = validated(self.InputSerializer, request.data)
        version = _version(v["dataset_version"]) if v.get("dataset_version") else None
        run = submit.reward_eval_create(created_by=request.user, reward_model=_reward_model(v["reward_model"]),
                                        dataset_version=version, split=v["split"], benchmark_csv=v["benchmark_csv"], name=v["name"])
        return _accepted(run)


class AlignmentRunListApi(StaffApi):
    class InputSerializer(serializers.Serializer):
        dataset_version = id_field()
        method = serializers.ChoiceField(choices=AlignmentRun.Method.values)
        base_model_path = serializers.CharField(help_text="A diffusers pipeline folder under BASE_MODELS_ROOT.")
        reward_model = id_field(required=False, allow_null=True,
                                help_text="Flow-RWR's rewards; judges the win rate of Flow-DPO/RWR.")
        name = serializers.CharField(required=False, allow_blank=True, default="", max_length=200)
        dimensions = serializers.ListField(child=serializers.CharField(), required=False,
                                           help_text="Flow-NRG: the dimensions the latent reward model learns.")
        hyperparameters = out.AlignmentHyperparameters(required=False)

    @extend_schema(operation_id="alignment_runs_list", parameters=LIST_FILTERS, responses=paginated(out.AlignmentRunOutput))
    def get(self, request):
        return _list(request, self, Run.Kind.ALIGNMENT)

    @extend_schema(request=InputSerializer, responses={202: out.AlignmentRunOutput})
    def post(self, request):
        v = validated(self.InputSerializer, request.data)
        run = submit.alignment_run_create(created_by=request.user, dataset_version=_version(v["dataset_version"]),
                                          method=v["method"], base_model_path=v["base_model_path"],
                                          reward_model=_reward_model(v.get("reward_model")), name=v["name"],
                                          dimensions=v.get("dimensions"), hyperparameters=v.get("hyperparameters"))
        return _accepted(run)


class GenerationListApi(StaffApi):
    class InputSerializer(serializers.Serializer):
        project = id_field()
        base_model_path = serializers.CharField(help_text="A diffusers pipeline folder under BASE_MODELS_ROOT.")
        prompts = serializers.ListField(child=serializers.CharField(), allow_empty=False)
        # Seeds land in Video.seed (a signed 64-bit column) on the generated videos.
        seeds = serializers.ListField(child=serializers.IntegerField(min_value=0, max_value=INT64_MAX), required=False,
                                      default=[0])
        alignment_run = id_field(required=False, allow_null=True, help_text="Sample with its adapter.")
        nrg_run = id_field(required=False, allow_null=True, help_text="Guide with its latent reward model.")
        nrg_weights = serializers.DictField(child=serializers.FloatField(), required=False,
                                            help_text="λ per dimension for Flow-NRG (default 1 each).")
        name = serializers.CharField(required=False, allow_blank=True, default="", max_length=200)
        hyperparameters = out.GenerationHyperparameters(required=False)

    @extend_schema(operation_id="generations_list", parameters=LIST_FILTERS, responses=paginated(out.GenerationOutput))
    def get(self, request):
        return _list(request, self, Run.Kind.GENERATION)

    @extend_schema(request=InputSerializer, responses={202: out.GenerationOutput})
    def post(self, request):
        v = validated(self.InputSerializer, request.data)
        run = submit.generation_create(
            created_by=request.user, project=get_object_or_404(Project, pk=v["project"]), base_model_path=v["base_model_path"],
            prompts=v["prompts"], seeds=v["seeds"], alignment_run_id=v.get("alignment_run"), nrg_run_id=v.get("nrg_run"),
            nrg_weights=v.get("nrg_weights"), name=v["name"], hyperparameters=v.get("hyperparameters"),
        )
        return _accepted(run)


def detail_api(kind: str) -> type[APIView]:
    """``GET /{reward-runs,reward-evals,alignment-runs,generations}/{id}/``: one run of that kind, all its fields."""
    output = out.OUTPUTS[kind]

    @extend_schema(responses=output)
    def get(self, request, run_id: int):
        return Response(output(get_object_or_404(KIND_MODELS[kind], pk=run_id)).data)

    return type(f"{output.__name__.removesuffix('Output')}DetailApi", (StaffApi,), {"get": get, "__doc__": detail_api.__doc__})


RewardRunDetailApi = detail_api(Run.Kind.REWARD_TRAIN)
RewardEvalDetailApi = detail_api(Run.Kind.REWARD_EVAL)
AlignmentRunDetailApi = detail_api(Run.Kind.ALIGNMENT)
GenerationDetailApi = detail_api(Run.Kind.GENERATION)
