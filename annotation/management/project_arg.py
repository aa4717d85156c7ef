"""The PROJECT_ID argument of management commands."""

from django.core.management.base import CommandError

from annotation.models import Project


def project_arg(project_id: int) -> Project:
    project = Project.objects.filter(pk=project_id).first()
    if project is None:
        raise CommandError(f"No project {project_id}. List them in the admin or with GET /api/v1/projects/.")
    return project
