from django.contrib.auth.decorators import login_required
from django.shortcuts import render

from annotation.permissions import role_in
from annotation.selectors.projects import projects_visible_to


@login_required
def home(request):
    projects = [(p, role_in(request.user, p)) for p in projects_visible_to(request.user)]
    return render(request, "frontend/home.html", {"projects": projects})
