"""Page-side access rules: the API's project permissions as Django's 404 and 403 pages."""

from django.core.exceptions import PermissionDenied
from django.http import Http404

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
        raise PermissionDenied(f"{e.message} A manager of this project can give you the role.") from None
