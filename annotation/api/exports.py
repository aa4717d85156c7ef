"""Dataset versions over HTTP: ask for one (a Celery job), follow it, download its files (Range-capable)."""

import mimetypes

from django.urls import reverse
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from annotation.exports import FORMATS, GRANULARITIES, INCLUDE_VIDEOS
from annotation.media_response import media_responses, ranged_file_response
from annotation.models import DatasetVersion
from annotation.permissions import project_for
from annotation.selectors.dataset_versions import (
    dataset_version_for,
    dataset_versions_of,
    version_file_path,
    version_files,
)
from annotation.services.exports import FILTER_KEYS, dataset_version_create
from config.api import INT32_MAX, INT64_MAX, id_field, validated

CONTENT_TYPES = {
    ".jsonl": "application/jsonl",
    ".csv": "text/csv; charset=utf-8",
    ".parquet": "application/vnd.apache.parquet",
    ".arrow": "application/vnd.apache.arrow.stream",
    ".json": "application/json",
    ".tar": "application/x-tar",
    ".zip": "application/zip",
    ".mp4": "video/mp4",
}


class DatasetFiltersSerializer(serializers.Serializer):
    dimensions = serializers.ListField(child=serializers.CharField(), required=False,
                                       help_text="Dimension keys to export (default: all of the project's).")
    annotators = serializers.ListField(child=serializers.CharField(), required=False, allow_null=True,
                                       help_text="Only these usernames' judgments (default: everyone's).")
    created_from = serializers.CharField(required=False, allow_null=True, help_text="ISO date or time, inclusive.")
    created_to = serializers.CharField(required=False, allow_null=True, help_text="ISO date or time, exclusive.")
    include_gold = serializers.BooleanField(required=False, help_text="Include gold pairs (default false).")
    include_imported = serializers.BooleanField(required=False, help_text="Include imported judgments (default true).")
    min_judgments = serializers.IntegerField(required=False, min_value=1, max_value=INT32_MAX, help_text="Leave out pairs with fewer judgments (default 1).")
    min_agreement = serializers.FloatField(required=False, allow_null=True,
                                           help_text="Leave out pairs whose mean majority share is lower (0-1).")
    until_judgment_id = id_field(required=False, allow_null=True,
                                                 help_text="Snapshot: judgments up to this id (default: the latest now).")

    def to_internal_value(self, data):
        # A misspelt filter must not be dropped silently: the export would select more than asked for.
        unknown = sorted(set(data) - set(FILTER_KEYS)) if isinstance(data, dict) else []
        if unknown:
            raise serializers.ValidationError({k: [f"Unknown filter; use {', '.join(FILTER_KEYS)}."] for k in unknown})
        return super().to_internal_value(data)


class DatasetFileSerializer(serializers.Serializer):
    path = serializers.CharField()
    bytes = serializers.IntegerField(allow_null=True)
    sha256 = serializers.CharField(allow_null=True)
    url = serializers.CharField()


class DatasetVersionOutput(serializers.ModelSerializer):
    created_by = serializers.CharField(source="created_by.username", default=None)
    files = serializers.SerializerMethodField()

    class Meta:
        model = DatasetVersion
        fields = ["id", "project", "number", "name", "status", "progress", "error", "granularity", "formats",
                  "include_videos", "splits", "seed", "filters", "row_counts", "sha256", "folder", "created_by",
                  "created_at", "finished_at", "files"]

    @extend_schema(responses=DatasetFileSerializer(many=True))
    def get_files(self, version: DatasetVersion) -> list[dict]:
        request = self.context["request"]
        return [{**f, "url": request.build_absolute_uri(reverse("export-download", args=[version.pk, f["path"]]))}
                for f in version_files(version)]


class ExportListApi(APIView):
    class InputSerializer(serializers.Serializer):
        name = serializers.CharField(required=False, allow_blank=True, default="")
        formats = serializers.ListField(child=serializers.CharField(), help_text=f"Any of {', '.join(FORMATS)}.")
        granularity = serializers.ChoiceField(choices=GRANULARITIES, required=False, default="consensus")
        splits = serializers.DictField(child=serializers.FloatField(), required=False,
                                       help_text='Fractions summing to 1 (default {"train": 0.8, "val": 0.1, "test": 0.1}).')
        seed = serializers.IntegerField(required=False, default=0, min_value=0, max_value=INT64_MAX)
        include_videos = serializers.ChoiceField(choices=INCLUDE_VIDEOS, required=False, allow_blank=True, default="",
                                                 help_text="Also copy the videos: a folder, a tar or a zip.")
        filters = DatasetFiltersSerializer(required=False)

    @extend_schema(responses=DatasetVersionOutput(many=True))
    def get(self, request, project_id: int):
        project = project_for(request.user, project_id, "manager")
        return Response(DatasetVersionOutput(dataset_versions_of(project), many=True, context={"request": request}).data)

    @extend_schema(request=InputSerializer, responses={202: DatasetVersionOutput})
    def post(self, request, project_id: int):
        project = project_for(request.user, project_id, "manager")
        version = dataset_version_create(project=project, created_by=request.user,
                                         **validated(self.InputSerializer, request.data))
        return Response(DatasetVersionOutput(version, context={"request": request}).data, status=status.HTTP_202_ACCEPTED)


class ExportDetailApi(APIView):
    @extend_schema(responses=DatasetVersionOutput)
    def get(self, request, version_id: int):
        version = dataset_version_for(request.user, version_id)
        return Response(DatasetVersionOutput(version, context={"request": request}).data)


class ExportDownloadApi(APIView):
    @extend_schema(responses=media_responses(*dict.fromkeys(CONTENT_TYPES.values()), "text/plain; charset=utf-8"))
    def get(self, request, version_id: int, file: str):
        version = dataset_version_for(request.user, version_id)
        path = version_file_path(version, file)
        content_type = CONTENT_TYPES.get(path.suffix) or mimetypes.guess_type(path.name)[0] or "text/plain; charset=utf-8"
        response = ranged_file_response(request, path, content_type=content_type)
        # Saved as e.g. "project3-v2-dataset.jsonl", not "dataset.jsonl" again and again.
        name = f"project{version.project_id}-v{version.number}-{file.replace('/', '-')}"
        response["Content-Disposition"] = f'attachment; filename="{name}"'
        return response
