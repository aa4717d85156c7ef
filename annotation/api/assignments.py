"""The annotator's API: lease the next pair, submit or skip it, stream its media, see progress."""

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from annotation.media_response import media_responses, storage_file_response
from annotation.permissions import project_for
from annotation.selectors.queue import (
    annotator_progress,
    assignment_for,
    assignment_media_key,
    assignment_payload,
)
from annotation.services.assignment import (
    assignment_next,
    assignment_skip,
    assignment_submit,
    assignment_submit_and_next,
    to_shown,
)
from config.api import id_field, validated

ANNOTATING_ROLES = ("annotator", "manager")


class SideMediaSerializer(serializers.Serializer):
    video = serializers.CharField()
    poster = serializers.CharField(allow_null=True)


class ShownDimensionSerializer(serializers.Serializer):
    key = serializers.CharField()
    label = serializers.CharField()
    description = serializers.CharField()


class LeaseOutput(serializers.Serializer):
    id = serializers.IntegerField()
    expires_at = serializers.DateTimeField()
    prompt = serializers.CharField()
    left = SideMediaSerializer()
    right = SideMediaSerializer()
    frame_step_s = serializers.FloatField()
    dimensions = ShownDimensionSerializer(many=True)
    guidelines = serializers.CharField(allow_blank=True)


class NextApi(APIView):
    """Your oldest live lease in the project, else a newly leased pair; 204 when nothing is left for you."""

    class InputSerializer(serializers.Serializer):
        after = id_field(required=False, allow_null=True,
                                         help_text="The assignment on screen now: get another one, to prefetch it.")

    @extend_schema(request=InputSerializer, responses={200: LeaseOutput, 204: OpenApiResponse(description="Nothing left.")})
    def post(self, request, project_id: int):
        project = project_for(request.user, project_id, *ANNOTATING_ROLES)
        after = validated(self.InputSerializer, request.data).get("after")
        assignment = assignment_next(project=project, annotator=request.user, after=after)
        if assignment is None:
            return Response(status=status.HTTP_204_NO_CONTENT)
        return Response(LeaseOutput(assignment_payload(assignment)).data)


class SubmitApi(APIView):
    class InputSerializer(serializers.Serializer):
        choices = serializers.DictField(child=serializers.CharField(), help_text='{"vq": "left"|"right"|"tie", ...}')
        duration_ms = serializers.IntegerField(required=False, allow_null=True, help_text="Time on task, from first play.")
        comment = serializers.CharField(required=False, allow_blank=True, trim_whitespace=False)
        next = serializers.BooleanField(default=False, help_text="Also lease the next pair and return it (as next/ "
                                        "would) in the same response: one request per judgment.")
        after = serializers.IntegerField(required=False, allow_null=True,
                                         help_text="With next: the assignment the page has prefetched; lease another.")

    class OutputSerializer(serializers.Serializer):
        assignment = serializers.IntegerField()
        status = serializers.CharField()
        choices = serializers.DictField(child=serializers.CharField())
        next = LeaseOutput(required=False, allow_null=True,
                           help_text='Only with "next": true: the next leased pair, or null when nothing is left.')

    @extend_schema(request=InputSerializer, responses=OutputSerializer)
    def post(self, request, assignment_id: int):
        assignment = assignment_for(user=request.user, assignment_id=assignment_id)
        fields = validated(self.InputSerializer, request.data)
        with_next, after = fields.pop("next"), fields.pop("after", None)
        answer = {"assignment": assignment.pk, "status": "submitted"}
        if with_next:
            judgment, following = assignment_submit_and_next(assignment=assignment, annotator=request.user,
                                                             after=after, **fields)
            answer["next"] = None if following is None else assignment_payload(following)
        else:
            judgment = assignment_submit(assignment=assignment, annotator=request.user, **fields)
        answer["choices"] = {key: to_shown(outcome, judgment.shown_left) for key, outcome in judgment.choices.items()}
        data = self.OutputSerializer(answer).data
        if not with_next:  # DRF fills an absent nullable field with null; a plain submit has no "next" at all
            del data["next"]
        return Response(data)


class SkipApi(APIView):
    class InputSerializer(serializers.Serializer):
        reason = serializers.CharField(required=False, allow_blank=True, trim_whitespace=False)

    class OutputSerializer(serializers.Serializer):
        assignment = serializers.IntegerField(source="pk")
        status = serializers.CharField()
        reason = serializers.CharField(source="skip_reason")

    @extend_schema(request=InputSerializer, responses=OutputSerializer)
    def post(self, request, assignment_id: int):
        assignment = assignment_for(user=request.user, assignment_id=assignment_id)
        assignment = assignment_skip(assignment=assignment, annotator=request.user,
                                     **validated(self.InputSerializer, request.data))
        return Response(self.OutputSerializer(assignment).data)


SIDE = OpenApiParameter("side", str, OpenApiParameter.PATH, enum=["left", "right"])


class AssignmentMediaApi(APIView):
    """The left or right video of your live lease, with HTTP Range support."""

    kind = "video"

    @extend_schema(parameters=[SIDE], responses=media_responses("video/mp4"))
    def get(self, request, assignment_id: int, side: str):
        assignment = assignment_for(user=request.user, assignment_id=assignment_id, with_videos=True)
        key, content_type = assignment_media_key(assignment=assignment, user=request.user, side=side, kind=self.kind)
        return storage_file_response(request, key, content_type=content_type)


class AssignmentPosterApi(AssignmentMediaApi):
    """The poster (a JPEG still) of the left or right video of your live lease."""

    kind = "poster"

    @extend_schema(parameters=[SIDE], responses=media_responses("image/jpeg"))
    def get(self, request, assignment_id: int, side: str):
        return super().get(request, assignment_id, side)


class ProgressApi(APIView):
    class OutputSerializer(serializers.Serializer):
        done_today = serializers.IntegerField()
        remaining = serializers.IntegerField(help_text="Judgments the project still needs (refreshed every few seconds).")

    @extend_schema(responses=OutputSerializer)
    def get(self, request, project_id: int):
        project = project_for(request.user, project_id, *ANNOTATING_ROLES)
        return Response(self.OutputSerializer(annotator_progress(project=project, annotator=request.user)).data)
