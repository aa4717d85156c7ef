"""Videos for managers: upload, list by status, detail, and the files (Range-served)."""

import mimetypes

from django.urls import reverse
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from annotation.media_response import media_responses, storage_file_response
from annotation.models import Video
from annotation.permissions import project_for
from annotation.selectors.videos import video_get, videos_for_manager
from annotation.services.ingest import MAX_SEED, MULTIPART_SLACK, check_upload_size, video_ingest
from annotation.storage import uploaded_file_path
from config.api import BoundedLimitOffsetPagination, JSONTextField, PageParams, validated
from config.errors import Conflict


class VideoOutput(serializers.ModelSerializer):
    prompt = serializers.CharField(source="prompt.text")
    model = serializers.CharField(source="generation_model.name")
    file_url = serializers.SerializerMethodField()
    poster_url = serializers.SerializerMethodField()

    class Meta:
        model = Video
        fields = ["id", "prompt", "prompt_id", "model", "seed", "source", "status", "error", "original_name",
                  "size_bytes", "width", "height", "fps", "num_frames", "duration_s", "codec", "sha256", "meta",
                  "file_url", "poster_url", "created_at", "updated_at"]

    def _url(self, video: Video, variant: str) -> str:
        return reverse("video-file", args=[video.project_id, video.pk]) + f"?variant={variant}"

    def get_file_url(self, video: Video) -> str | None:
        return self._url(video, "playback") if video.playback else None

    def get_poster_url(self, video: Video) -> str | None:
        return self._url(video, "poster") if video.poster else None


class VideoListApi(APIView):
    parser_classes = [MultiPartParser, FormParser]

    class InputSerializer(serializers.Serializer):
        file = serializers.FileField(allow_empty_file=True)  # the service explains why an empty file is no video
        prompt = serializers.CharField()
        model = serializers.CharField(max_length=200)
        seed = serializers.IntegerField(required=False, allow_null=True, min_value=-MAX_SEED, max_value=MAX_SEED)
        meta = JSONTextField(required=False, binary=True)

    class ParamsSerializer(serializers.Serializer):
        status = serializers.ChoiceField(Video.Status.values, required=False,
                                         help_text="Only videos in this status; all of them when left out.")

    @extend_schema(
        operation_id="project_videos_list",
        parameters=[ParamsSerializer, PageParams],
        responses=inline_serializer("PaginatedVideos", {
            "count": serializers.IntegerField(), "next": serializers.URLField(allow_null=True),
            "previous": serializers.URLField(allow_null=True), "results": VideoOutput(many=True)}),
    )
    def get(self, request, project_id: int):
        project = project_for(request.user, project_id, "manager")
        status_filter = validated(self.ParamsSerializer, request.query_params).get("status")
        videos = videos_for_manager(project=project, status=status_filter)
        paginator = BoundedLimitOffsetPagination()
        page = paginator.paginate_queryset(videos, request, view=self)
        return paginator.get_paginated_response(VideoOutput(page, many=True).data)

    @extend_schema(
        operation_id="project_videos_upload",
        request={"multipart/form-data": InputSerializer},
        responses={201: VideoOutput, 200: VideoOutput},
        description="Upload one video. 201 with the new video (pending until a media worker has processed it), "
                    "200 with the existing one when the project already has these exact bytes.",
    )
    def post(self, request, project_id: int):
        project = project_for(request.user, project_id, "manager")
        # Refuse an oversized body before the multipart parser spools it to disk.
        check_upload_size(int(request.META.get("CONTENT_LENGTH") or 0), slack=MULTIPART_SLACK)
        fields = validated(self.InputSerializer, request.data)
        upload = fields["file"]
        check_upload_size(upload.size)
        with uploaded_file_path(upload) as path:
            video, created = video_ingest(project=project, path=path, prompt_text=fields["prompt"],
                                          model_name=fields["model"], seed=fields.get("seed"), source="upload",
                                          original_name=upload.name or "", meta=fields.get("meta"))
        return Response(VideoOutput(video).data, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)


class VideoDetailApi(APIView):
    @extend_schema(operation_id="project_video_detail", responses=VideoOutput)
    def get(self, request, project_id: int, video_id: int):
        project = project_for(request.user, project_id, "manager")
        return Response(VideoOutput(video_get(project=project, video_id=video_id)).data)


# A video's files by variant, with the content type each is served as (an original's is guessed from its name).
VARIANTS = {"playback": "video/mp4", "poster": "image/jpeg", "original": None}


class VideoFileApi(APIView):
    """A video's playback MP4, poster JPEG or original file, with HTTP Range support (managers only)."""

    class ParamsSerializer(serializers.Serializer):
        variant = serializers.ChoiceField(list(VARIANTS), default="playback",
                                          help_text="Which file: the playback MP4, its poster JPEG or the uploaded original.")

    @extend_schema(
        operation_id="project_video_file",
        parameters=[ParamsSerializer],
        responses=media_responses("video/mp4", "image/jpeg", "application/octet-stream"),
    )
    def get(self, request, project_id: int, video_id: int):
        project = project_for(request.user, project_id, "manager")
        video = video_get(project=project, video_id=video_id)
        variant = validated(self.ParamsSerializer, request.query_params)["variant"]
        key = getattr(video, variant)
        if not key:
            raise Conflict(f"Video {video.pk} is {video.status}; it has no {variant} file yet.")
        content_type = VARIANTS[variant] or mimetypes.guess_type(key)[0] or "application/octet-stream"
        return storage_file_response(request, key, content_type=content_type)
