from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from annotation.models import Membership, Project
from annotation.permissions import project_for, role_in
from annotation.selectors.projects import projects_visible_to
from annotation.services.projects import membership_set, project_create, project_update
from config.api import INT32_MAX, validated
from config.errors import Forbidden


class DimensionSerializer(serializers.Serializer):
    key = serializers.CharField()
    label = serializers.CharField(required=False)
    description = serializers.CharField(required=False, allow_blank=True)


class ProjectOutput(serializers.ModelSerializer):
    role = serializers.SerializerMethodField()
    dimensions = DimensionSerializer(many=True)

    class Meta:
        model = Project
        fields = ["id", "name", "description", "dimensions", "overlap", "lease_seconds", "guidelines", "gold_ratio",
                  "max_duration_s", "max_width", "max_height", "created_at", "role"]

    def get_role(self, project: Project) -> str | None:
        return role_in(self.context["request"].user, project)


class ProjectInput(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    description = serializers.CharField(required=False, allow_blank=True)
    dimensions = DimensionSerializer(many=True, required=False)
    overlap = serializers.IntegerField(required=False, min_value=1, max_value=50)
    lease_seconds = serializers.IntegerField(required=False, min_value=30, max_value=INT32_MAX)
    guidelines = serializers.CharField(required=False, allow_blank=True)
    gold_ratio = serializers.FloatField(required=False, min_value=0, max_value=1)
    max_duration_s = serializers.FloatField(required=False, min_value=0.1)
    max_width = serializers.IntegerField(required=False, min_value=16, max_value=INT32_MAX)
    max_height = serializers.IntegerField(required=False, min_value=16, max_value=INT32_MAX)


class ProjectListApi(APIView):
    @extend_schema(responses=ProjectOutput(many=True))
    def get(self, request):
        projects = projects_visible_to(request.user)
        return Response(ProjectOutput(projects, many=True, context={"request": request}).data)

    @extend_schema(request=ProjectInput, responses={201: ProjectOutput})
    def post(self, request):
        # Creating a project makes you its manager; annotators-only users cannot create projects.
        if not request.user.is_staff and not Membership.objects.filter(user=request.user, role="manager").exists():
            raise Forbidden("Only managers and admins can create projects.")
        project = project_create(created_by=request.user, **validated(ProjectInput, request.data))
        return Response(ProjectOutput(project, context={"request": request}).data, status=status.HTTP_201_CREATED)


class ProjectDetailApi(APIView):
    @extend_schema(responses=ProjectOutput)
    def get(self, request, project_id: int):
        project = project_for(request.user, project_id, "manager")
        return Response(ProjectOutput(project, context={"request": request}).data)

    @extend_schema(request=ProjectInput(partial=True), responses=ProjectOutput)
    def patch(self, request, project_id: int):
        project = project_for(request.user, project_id, "manager")
        project = project_update(project=project, **validated(ProjectInput, request.data, partial=True))
        return Response(ProjectOutput(project, context={"request": request}).data)


class MemberApi(APIView):
    class InputSerializer(serializers.Serializer):
        username = serializers.CharField()
        role = serializers.ChoiceField(choices=Membership.Role.choices)

    class OutputSerializer(serializers.Serializer):
        username = serializers.CharField(source="user.username")
        role = serializers.CharField()

    @extend_schema(request=InputSerializer, responses={201: OutputSerializer})
    def post(self, request, project_id: int):
        project = project_for(request.user, project_id, "manager")
        membership = membership_set(project=project, **validated(self.InputSerializer, request.data))
        return Response(self.OutputSerializer(membership).data, status=status.HTTP_201_CREATED)
