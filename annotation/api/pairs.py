"""Pair generation for managers."""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from annotation.permissions import project_for
from annotation.services.pairing import MAX_PER_PROMPT, STRATEGIES, pairs_generate
from config.api import INT64_MAX, validated


class PairGenerateApi(APIView):
    class InputSerializer(serializers.Serializer):
        strategy = serializers.CharField(help_text="all, random, balanced, or another registered strategy (uncertainty).")
        per_prompt = serializers.IntegerField(required=False, allow_null=True, min_value=1, max_value=MAX_PER_PROMPT,
                                              help_text="Pairs each prompt should end up with (random, balanced).")
        seed = serializers.IntegerField(required=False, allow_null=True, min_value=-INT64_MAX, max_value=INT64_MAX, help_text="Makes the choice reproducible.")

    class OutputSerializer(serializers.Serializer):
        created = serializers.IntegerField()
        strategy = serializers.CharField()
        strategies = serializers.ListField(child=serializers.CharField())

    @extend_schema(operation_id="project_pairs_generate", request=InputSerializer, responses={201: OutputSerializer})
    def post(self, request, project_id: int):
        project = project_for(request.user, project_id, "manager")
        fields = validated(self.InputSerializer, request.data)
        created = pairs_generate(project=project, **fields)
        return Response(self.OutputSerializer({"created": created, "strategy": fields["strategy"],
                                               "strategies": sorted(STRATEGIES)}).data,
                        status=status.HTTP_201_CREATED)
