"""Managers' quality pages: charts of agreement, annotators and the leaderboard; the adjudication review.

Both pages are shells; quality.js and review.js draw them from the quality API.
"""

from django.contrib.auth.decorators import login_required
from django.shortcuts import render
from django.views.decorators.csrf import ensure_csrf_cookie

from frontend.views.access import page_project


@login_required
def quality(request, project_id: int):
    project = page_project(request.user, project_id, "manager")
    return render(request, "frontend/quality.html", {"project": project})


@login_required
@ensure_csrf_cookie
def review(request, project_id: int):
    project = page_project(request.user, project_id, "manager")
    return render(request, "frontend/quality_review.html", {"project": project})
