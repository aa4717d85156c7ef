"""Pages. Each concern adds its own block and keeps its views in frontend/views/<concern>.py."""

from django.contrib.auth import views as auth_views
from django.urls import path

from config.throttles import login_throttled
from frontend.views import annotate, datasets, home, manage, quality, runs

urlpatterns = [
    path("login/", login_throttled(auth_views.LoginView.as_view(template_name="frontend/login.html")), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("", home.home, name="home"),
    path("projects/<int:project_id>/datasets/", datasets.datasets, name="datasets"),
    path("projects/<int:project_id>/datasets/preview/", datasets.datasets_preview, name="datasets-preview"),
    # Manager page: uploads, imports, videos, pairs (issue 3).
    path("projects/<int:project_id>/manage/", manage.manage, name="manage"),
    # Annotator page, quality and adjudication pages (issue 4).
    path("projects/<int:project_id>/annotate/", annotate.annotate, name="annotate"),
    path("projects/<int:project_id>/quality/", quality.quality, name="quality"),
    path("projects/<int:project_id>/quality/review/", quality.review, name="adjudication-review"),
    # Runs: reward, evaluation, alignment and generation runs for admins (issue 8).
    path("runs/", runs.runs_home, name="runs"),
    path("runs/evaluations/", runs.evaluations_compare, name="runs-compare"),
    path("runs/<int:run_id>/", runs.run_detail, name="run-detail"),
    path("runs/pipeline/<int:project_id>/", runs.pipeline_page, name="runs-pipeline"),
    path("runs/<int:run_id>/files/<path:path>", runs.run_file, name="run-file"),
]
