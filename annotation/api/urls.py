"""Routes of /api/v1/ for the annotation app. Each concern adds its own block."""

from django.urls import path

from annotation.api import assignments, auth, exports, imports, pairs, projects, quality, videos

urlpatterns = [
    path("auth/token/", auth.TokenApi.as_view(), name="api-token"),
    path("projects/", projects.ProjectListApi.as_view(), name="project-list"),
    path("projects/<int:project_id>/", projects.ProjectDetailApi.as_view(), name="project-detail"),
    path("projects/<int:project_id>/members/", projects.MemberApi.as_view(), name="project-members"),
    # Videos, imports, pairs (issue 3).
    path("projects/<int:project_id>/videos/", videos.VideoListApi.as_view(), name="video-list"),
    path("projects/<int:project_id>/videos/<int:video_id>/", videos.VideoDetailApi.as_view(), name="video-detail"),
    path("projects/<int:project_id>/videos/<int:video_id>/file/", videos.VideoFileApi.as_view(), name="video-file"),
    path("projects/<int:project_id>/imports/", imports.ImportListApi.as_view(), name="import-list"),
    path("imports/<int:import_id>/", imports.ImportDetailApi.as_view(), name="import-detail"),
    path("projects/<int:project_id>/pairs/generate/", pairs.PairGenerateApi.as_view(), name="pairs-generate"),
    # Annotation queue, annotator media, quality (issue 4).
    path("projects/<int:project_id>/assignments/next/", assignments.NextApi.as_view(), name="assignment-next"),
    path("projects/<int:project_id>/progress/", assignments.ProgressApi.as_view(), name="annotator-progress"),
    path("assignments/<int:assignment_id>/submit/", assignments.SubmitApi.as_view(), name="assignment-submit"),
    path("assignments/<int:assignment_id>/skip/", assignments.SkipApi.as_view(), name="assignment-skip"),
    path("assignments/<int:assignment_id>/media/<str:side>", assignments.AssignmentMediaApi.as_view(),
         name="assignment-media"),
    path("assignments/<int:assignment_id>/media/<str:side>/poster", assignments.AssignmentPosterApi.as_view(),
         name="assignment-poster"),
    path("projects/<int:project_id>/quality/", quality.QualityApi.as_view(), name="project-quality"),
    path("projects/<int:project_id>/leaderboard/", quality.LeaderboardApi.as_view(), name="project-leaderboard"),
    path("projects/<int:project_id>/adjudications/", quality.AdjudicationListApi.as_view(), name="adjudication-queue"),
    path("pairs/<int:pair_id>/gold/", quality.GoldApi.as_view(), name="pair-gold"),
    path("pairs/<int:pair_id>/adjudication/", quality.AdjudicationApi.as_view(), name="pair-adjudication"),
    path("pairs/<int:pair_id>/media/<str:side>", quality.PairMediaApi.as_view(), name="pair-media"),
    # Dataset versions and their files (issue 5).
    path("projects/<int:project_id>/exports/", exports.ExportListApi.as_view(), name="export-list"),
    path("exports/<int:version_id>/", exports.ExportDetailApi.as_view(), name="export-detail"),
    path("exports/<int:version_id>/download/<path:file>", exports.ExportDownloadApi.as_view(), name="export-download"),
]
