"""Managers' quality API: agreement and annotator report, leaderboard, gold pairs, adjudication."""

from dataclasses import fields

from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from annotation.media_response import media_responses, storage_file_response
from annotation.models import Pair
from annotation.permissions import project_for, require_role
from annotation.selectors.leaderboard import MAX_ROUNDS, project_leaderboard
from annotation.selectors.quality import Thresholds, pair_review, pairs_to_adjudicate, project_quality
from annotation.services.adjudication import adjudication_decide
from annotation.services.gold import gold_mark, gold_unmark
from config.api import INT32_MAX, INT64_MAX, validated
from config.errors import NotFound

OutcomesField = serializers.DictField(child=serializers.CharField(), help_text='Canonical order: {"overall": "A"|"B"|"tie"}')


def _managed_pair(request, pair_id: int) -> Pair:
    pair = Pair.objects.select_related("project", "video_a", "video_b").filter(pk=pair_id).first()
    if pair is None:
        raise NotFound("Pair not found.")
    require_role(request.user, pair.project, "manager")
    return pair


class QualityApi(APIView):
    class ThresholdsSerializer(serializers.Serializer):
        min_median_seconds = serializers.FloatField(required=False, min_value=0)
        min_gold_accuracy = serializers.FloatField(required=False, min_value=0, max_value=1)
        min_gold_answers = serializers.IntegerField(required=False, min_value=1, max_value=INT32_MAX)
        bias_z = serializers.FloatField(required=False, min_value=0)
        min_bias_votes = serializers.IntegerField(required=False, min_value=1, max_value=INT32_MAX)

    @extend_schema(
        parameters=[ThresholdsSerializer],
        responses=inline_serializer("QualityReport", {
            "project": serializers.IntegerField(), "totals": serializers.DictField(),
            "thresholds": serializers.DictField(), "dimensions": serializers.ListField(child=serializers.DictField()),
            "annotators": serializers.ListField(child=serializers.DictField())}),
    )
    def get(self, request, project_id: int):
        """Krippendorff's alpha and consensus per dimension; per annotator gold accuracy, judgments, median time,
        agreement with the consensus, left/right bias and flags (thresholds overridable as query parameters)."""
        project = project_for(request.user, project_id, "manager")
        given = validated(self.ThresholdsSerializer, request.query_params)
        thresholds = Thresholds(**{f.name: given.get(f.name, f.default) for f in fields(Thresholds)})
        return Response(project_quality(project=project, thresholds=thresholds))


class LeaderboardApi(APIView):
    class ParamsSerializer(serializers.Serializer):
        dimension = serializers.CharField(required=False, help_text='Default "overall", else the first dimension.')
        rounds = serializers.IntegerField(required=False, default=200, min_value=0, max_value=MAX_ROUNDS,
                                          help_text=f"Bootstrap rounds (0-{MAX_ROUNDS}).")
        seed = serializers.IntegerField(required=False, default=0, min_value=0, max_value=INT64_MAX)

    @extend_schema(
        parameters=[ParamsSerializer],
        responses=inline_serializer("Leaderboard", {
            "dimension": serializers.CharField(), "battles": serializers.IntegerField(),
            "rounds": serializers.IntegerField(), "seed": serializers.IntegerField(), "ties": serializers.CharField(),
            "models": serializers.ListField(child=serializers.DictField())}),
    )
    def get(self, request, project_id: int):
        """Bradley–Terry ratings (Elo scale) of the generation models with 95% bootstrap intervals; ties are half wins."""
        project = project_for(request.user, project_id, "manager")
        return Response(project_leaderboard(project=project, **validated(self.ParamsSerializer, request.query_params)))


class GoldApi(APIView):
    class InputSerializer(serializers.Serializer):
        choices = OutcomesField
        note = serializers.CharField(required=False, allow_blank=True)

    class OutputSerializer(serializers.Serializer):
        pair = serializers.IntegerField(source="pair_id")
        choices = serializers.DictField(child=serializers.CharField())
        note = serializers.CharField()

    @extend_schema(request=InputSerializer, responses=OutputSerializer)
    def put(self, request, pair_id: int):
        """Mark the pair as gold with its known answers (in canonical A/B order); marking again replaces them."""
        pair = _managed_pair(request, pair_id)
        gold = gold_mark(pair=pair, created_by=request.user, **validated(self.InputSerializer, request.data))
        return Response(self.OutputSerializer(gold).data)

    @extend_schema(responses={204: None})
    def delete(self, request, pair_id: int):
        """Make the pair an ordinary pair again."""
        gold_unmark(pair=_managed_pair(request, pair_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


class AdjudicationListApi(APIView):
    class ParamsSerializer(serializers.Serializer):
        limit = serializers.IntegerField(required=False, default=20, min_value=1, max_value=200)
        offset = serializers.IntegerField(required=False, default=0, min_value=0, max_value=INT64_MAX)

    @extend_schema(parameters=[ParamsSerializer], responses=inline_serializer("AdjudicationQueue", {
        "count": serializers.IntegerField(), "results": serializers.ListField(child=serializers.DictField())}))
    def get(self, request, project_id: int):
        """Finished pairs with a dimension on which the votes reached no consensus, with their judgments."""
        project = project_for(request.user, project_id, "manager")
        total, pair_ids = pairs_to_adjudicate(project=project, **validated(self.ParamsSerializer, request.query_params))
        return Response({"count": total, "results": pair_review(project=project, pair_ids=pair_ids)})


class AdjudicationApi(APIView):
    class InputSerializer(serializers.Serializer):
        choices = OutcomesField

    class OutputSerializer(serializers.Serializer):
        pair = serializers.IntegerField(source="pair_id")
        choices = serializers.DictField(child=serializers.CharField())

    @extend_schema(request=InputSerializer, responses=OutputSerializer)
    def post(self, request, pair_id: int):
        """Decide some dimensions of the pair (canonical A/B order); this overrides the vote there."""
        pair = _managed_pair(request, pair_id)
        adjudication = adjudication_decide(pair=pair, decided_by=request.user,
                                           **validated(self.InputSerializer, request.data))
        return Response(self.OutputSerializer(adjudication).data)


class PairMediaApi(APIView):
    """Video A or B of a pair for the blind review page (managers), with HTTP Range support."""

    @extend_schema(
        parameters=[OpenApiParameter("side", str, OpenApiParameter.PATH, enum=["a", "b"])],
        responses=media_responses("video/mp4"),
    )
    def get(self, request, pair_id: int, side: str):
        pair = _managed_pair(request, pair_id)
        video = {"a": pair.video_a, "b": pair.video_b}.get(side)
        if video is None or not video.playback:
            raise NotFound("No playable file for that side of the pair (sides are a and b).")
        return storage_file_response(request, video.playback, content_type="video/mp4")
