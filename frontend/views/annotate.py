"""The annotator's page: two synced players, a three-way choice per dimension, keyboard first.

The page is a shell; annotate.js leases pairs and submits through the same API as any client.
"""

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import render
from django.views.decorators.csrf import ensure_csrf_cookie

from annotation.models import Project
from annotation.permissions import project_for
from config.errors import Forbidden, NotFound


def page_project(user, project_id: int, *roles: str) -> Project:
    """The project for a page, with the API's rules turned into Django's 404 and 403 pages."""
    try:
        return project_for(user, project_id, *roles)
    except NotFound as e:
        raise Http404(e.message) from None
    except Forbidden as e:
        raise PermissionDenied(e.message) from None


@login_required
@ensure_csrf_cookie
def annotate(request, project_id: int):
    project = page_project(request.user, project_id, "annotator", "manager")
    return render(request, "frontend/annotate.html", {"project": project})
