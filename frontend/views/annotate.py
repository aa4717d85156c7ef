"""The annotator's page: two synced players, a three-way choice per dimension, keyboard first.

The page is a shell; annotate.js leases pairs and submits through the same API as any client.
"""

from django.contrib.auth.decorators import login_required
from django.shortcuts import render
from django.views.decorators.csrf import ensure_csrf_cookie

from frontend.views.access import page_project


@login_required
@ensure_csrf_cookie
def annotate(request, project_id: int):
    project = page_project(request.user, project_id, "annotator", "manager")
    return render(request, "frontend/annotate.html", {"project": project})
