"""Import jobs: a manifest or RewardBench CSV, processed in chunks by the media workers."""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from annotation.models import ImportJob
from annotation.permissions import project_for, require_role
from annotation.selectors.videos import import_job_get, import_jobs_for
from annotation.services.imports import import_job_create
from annotation.storage import uploaded_file_path
from config.api import validated
from config.parsers import SafeJSONParser


class ImportJobOutput(serializers.ModelSerializer):
    class Meta:
        model = ImportJob
        fields = ["id", "project_id", "kind", "source", "status", "total_rows", "done_rows", "failed_rows", "errors",
                  "error", "in_place", "created_at", "finished_at"]


class ImportListApi(APIView):
    parser_classes = [SafeJSONParser, MultiPartParser, FormParser]

    class InputSerializer(serializers.Serializer):
        manifest = serializers.CharField(required=False, allow_blank=True,
                                         help_text="A .jsonl or .csv file, or a folder, under IMPORT_ROOT (relative path).")
        file = serializers.FileField(required=False, help_text="Or upload the manifest; its paths start at IMPORT_ROOT.")
        kind = serializers.ChoiceField(choices=ImportJob.Kind.choices, required=False,
                                       help_text="Default: rewardbench for a CSV with path_A and path_B, else manifest.")
        in_place = serializers.BooleanField(default=False, help_text="Register the files where they are (storage "
                                            "keys, paths under IMPORT_ROOT) without copying; media tasks hash and "
                                            "probe them.")

    @extend_schema(operation_id="project_imports_list", responses=ImportJobOutput(many=True))
    def get(self, request, project_id: int):
        project = project_for(request.user, project_id, "manager")
        return Response(ImportJobOutput(import_jobs_for(project=project)[:50], many=True).data)

    @extend_schema(operation_id="project_imports_create",
                   request={"application/json": InputSerializer, "multipart/form-data": InputSerializer},
                   responses={201: ImportJobOutput})
    def post(self, request, project_id: int):
        project = project_for(request.user, project_id, "manager")
        fields = validated(self.InputSerializer, request.data)
        options = {"project": project, "created_by": request.user, "kind": fields.get("kind"),
                   "manifest": fields.get("manifest", ""), "in_place": fields["in_place"]}
        if "file" in fields:
            with uploaded_file_path(fields["file"]) as path:
                job = import_job_create(upload_path=path, upload_name=fields["file"].name or "", **options)
        else:
            job = import_job_create(**options)
        return Response(ImportJobOutput(job).data, status=status.HTTP_201_CREATED)


class ImportDetailApi(APIView):
    @extend_schema(operation_id="import_detail", responses=ImportJobOutput)
    def get(self, request, import_id: int):
        job = import_job_get(job_id=import_id)
        require_role(request.user, job.project, "manager")
        return Response(ImportJobOutput(job).data)
