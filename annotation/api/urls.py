"""Routes of /api/v1/ for the annotation app. Each concern adds its own block."""

from django.urls import path

from annotation.api import auth, projects

urlpatterns = [
    path("auth/token/", auth.TokenApi.as_view(), name="api-token"),
    path("projects/", projects.ProjectListApi.as_view(), name="project-list"),
    path("projects/<int:project_id>/", projects.ProjectDetailApi.as_view(), name="project-detail"),
    path("projects/<int:project_id>/members/", projects.MemberApi.as_view(), name="project-members"),
]
