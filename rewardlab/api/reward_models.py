"""Registered reward models (staff only): list, promote to the project's model, score a video; sending a
generation to a project; and human–model agreement for a project's managers."""

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from annotation import storage
from annotation.models import Project, Video
from annotation.permissions import project_for
from config.api import validated
from config.parsers import SafeJSONParser
from rewardlab import human_eval, selectors
from rewardlab.api import serializers as out
from rewardlab.api.runs import StaffApi, list_filters
from rewardlab.models import Generation, RewardModel
from rewardlab.services import reward_models, rounds, scoring


class RewardModelListApi(StaffApi):
    @extend_schema(parameters=[OpenApiParameter("project", int)], responses=out.RewardModelOutput(many=True))
    def get(self, request):
        models = selectors.reward_models(project_id=list_filters(request).get("project"))
        return Response(out.RewardModelOutput(models.prefetch_related("evaluations"), many=True).data)


class RewardModelPromoteApi(StaffApi):
    @extend_schema(request=None, responses=out.RewardModelOutput)
    def post(self, request, model_id: int):
        model = reward_models.reward_model_promote(reward_model=get_object_or_404(RewardModel, pk=model_id),
                                                   promoted_by=request.user)
        return Response(out.RewardModelOutput(model).data)


class RewardModelScoreApi(StaffApi):
    parser_classes = [SafeJSONParser, MultiPartParser, FormParser]

    class InputSerializer(serializers.Serializer):
        video_id = serializers.IntegerField(required=False, help_text="A ready video of the model's project (its prompt is used).")
        prompt = serializers.CharField(required=False, allow_blank=True, help_text="With file: the video's text prompt.")
        file = serializers.FileField(required=False, help_text="A video file to score (multipart).")

        def validate(self, attrs):
            if bool(attrs.get("video_id")) == bool(attrs.get("file")):
                raise serializers.ValidationError({"video_id": ["Give video_id, or file with prompt."]})
            if attrs.get("file") and not attrs.get("prompt", "").strip():
                raise serializers.ValidationError({"prompt": ["The prompt the video was generated from."]})
            return attrs

    class OutputSerializer(serializers.Serializer):
        reward_model = serializers.IntegerField()
        scores = serializers.DictField(child=serializers.FloatField(), help_text="Per dimension and overall (z-scores).")

    @extend_schema(request=InputSerializer, responses=OutputSerializer)
    def post(self, request, model_id: int):
        model = get_object_or_404(RewardModel, pk=model_id)
        v = validated(self.InputSerializer, request.data)
        if v.get("video_id"):
            scores = scoring.score_video(reward_model=model, video=get_object_or_404(Video.objects.select_related("prompt"), pk=v["video_id"]))
        else:
            with storage.uploaded_file_path(v["file"]) as path:
                scores = scoring.score_file(reward_model=model, prompt=v["prompt"], path=path)
        return Response(self.OutputSerializer({"reward_model": model.pk, "scores": scores}).data)


class GenerationSendApi(StaffApi):
    class InputSerializer(serializers.Serializer):
        project = serializers.IntegerField(required=False, help_text="Default: the generation's project.")
        strategy = serializers.CharField(required=False, default=None, help_text=(
            "Pair strategy for the new videos. Default \"baseline\" (each video against the base model's of the same "
            "prompt and seed) when the generation rendered baselines, else \"all\"; any other strategy adds its "
            "pairs to the baseline pairs."))
        per_prompt = serializers.IntegerField(required=False, min_value=1, help_text="Pairs per prompt (random, balanced, uncertainty).")

    @extend_schema(request=InputSerializer, responses={202: out.GenerationOutput})
    def post(self, request, run_id: int):
        generation = get_object_or_404(Generation, pk=run_id)
        data = validated(self.InputSerializer, request.data)
        project = get_object_or_404(Project, pk=data.get("project", generation.project_id))
        generation = rounds.generation_send(generation=generation, project=project, sent_by=request.user,
                                            strategy=data["strategy"], per_prompt=data.get("per_prompt"))
        return Response(out.GenerationOutput(generation).data, status=status.HTTP_202_ACCEPTED)


class GenerationHumanEvalApi(APIView):
    """For staff and the managers of the project the round went to: people's verdict on candidate vs baseline."""

    class DimensionSerializer(serializers.Serializer):
        key = serializers.CharField()
        label = serializers.CharField()
        wins = serializers.IntegerField(help_text="Judgments preferring the candidate.")
        ties = serializers.IntegerField()
        losses = serializers.IntegerField(help_text="Judgments preferring the baseline.")
        win_rate = serializers.FloatField(allow_null=True, help_text="(wins + ties / 2) / judgments.")
        ci95 = serializers.ListField(child=serializers.FloatField(), allow_null=True,
                                     help_text="95% bootstrap interval of win_rate, resampling pairs.")
        reward_win_rate = serializers.FloatField(allow_null=True, help_text=(
            "The project's promoted reward model on the same pairs (null without one or before it scored them)."))
        reward_ci95 = serializers.ListField(child=serializers.FloatField(), allow_null=True)

    class OutputSerializer(serializers.Serializer):
        generation = serializers.IntegerField()
        project = serializers.IntegerField()
        candidate = serializers.CharField(allow_null=True, help_text="Model name of the generation's own videos.")
        baseline = serializers.CharField(allow_null=True, help_text="Model name of the base model's videos.")
        pairs = serializers.IntegerField(help_text="Candidate-vs-baseline pairs in the project.")
        judged_pairs = serializers.IntegerField()
        pair_ids = serializers.ListField(child=serializers.IntegerField())
        reward_model = serializers.IntegerField(allow_null=True)
        dimensions = serializers.ListField(child=serializers.DictField())

    @extend_schema(responses=OutputSerializer)
    def get(self, request, run_id: int):
        generation = get_object_or_404(Generation, pk=run_id)
        result = human_eval.generation_human_eval(generation)
        project_for(request.user, result["project"], "manager")
        return Response(self.OutputSerializer(result).data)


class AgreementApi(APIView):
    """For the project's managers (not staff only): how the project's reward model agrees with people."""

    class OutputSerializer(serializers.Serializer):
        reward_model = serializers.IntegerField(source="reward_model.pk")
        pairs_with_judgments = serializers.IntegerField()
        pairs_scored = serializers.IntegerField()
        unscored_videos = serializers.IntegerField()
        dimensions = serializers.ListField(child=serializers.DictField())

    @extend_schema(responses={200: OutputSerializer, 204: None})
    def get(self, request, project_id: int):
        project = project_for(request.user, project_id, "manager")
        agreement = selectors.human_model_agreement(project)
        if agreement is None:
            return Response(status=status.HTTP_204_NO_CONTENT)
        return Response(self.OutputSerializer(agreement).data)

