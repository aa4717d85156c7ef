"""Who may do what. Staff users are admins; everyone else acts through a project membership.

Non-members get 404 for a project's objects (its existence is not theirs to know); members lacking the
role get 403.
"""

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import OuterRef, Subquery
from rest_framework.permissions import BasePermission

from annotation.models import Membership, Project
from config.errors import Forbidden, NotFound


def role_in(user: AbstractBaseUser, project: Project) -> str | None:
    """The user's role in the project: "admin", "manager", "annotator" or None."""
    if not user.is_authenticated:
        return None
    if user.is_staff:
        return "admin"
    return Membership.objects.filter(project=project, user=user).values_list("role", flat=True).first()


def require_role(user: AbstractBaseUser, project: Project, *roles: str, role: str | None = None) -> str:
    """Raise unless the user holds one of ``roles`` in the project (admins always pass).

    ``role``: the user's role when the caller has read it already (see :func:`project_for`).
    """
    role = role or role_in(user, project)
    if role is None:
        raise NotFound("Project not found.")
    if role != "admin" and role not in roles:
        raise Forbidden(f"This needs the {' or '.join(roles)} role in project {project.pk}; you are {role}.")
    return role


def project_for(user: AbstractBaseUser, project_id: int, *roles: str) -> Project:
    """The project, if the user holds one of ``roles`` there; project and membership in one query (a hot path)."""
    projects = Project.objects.filter(pk=project_id)
    if user.is_authenticated and not user.is_staff:
        memberships = Membership.objects.filter(project=OuterRef("pk"), user=user)
        projects = projects.annotate(member_role=Subquery(memberships.values("role")[:1]))
    project = projects.first()
    if project is None:
        raise NotFound("Project not found.")
    require_role(user, project, *roles, role="admin" if user.is_staff else getattr(project, "member_role", None))
    return project


class IsStaff(BasePermission):
    message = "Only admins (staff users) can do this."

    def has_permission(self, request, view) -> bool:
        return bool(request.user and request.user.is_authenticated and request.user.is_staff)
