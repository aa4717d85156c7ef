"""Who may do what. Staff users are admins; everyone else acts through a project membership.

Plain queries and checks, no DRF (selectors use them too); the API's IsStaff permission is in config/api.py.

Non-members get 404 for a project's objects (its existence is not theirs to know); members lacking the
role get 403.
"""

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import OuterRef, QuerySet, Subquery

from annotation.models import Membership, Project
from config.errors import Forbidden, NotFound


def role_in(user: AbstractBaseUser, project: Project) -> str | None:
    """The user's role in the project: "admin", "manager", "annotator" or None."""
    if not user.is_authenticated:
        return None
    if user.is_staff:
        return "admin"
    return Membership.objects.filter(project=project, user=user).values_list("role", flat=True).first()


def _check_role(role: str | None, project: Project, roles: tuple[str, ...]) -> str:
    if role is None:
        raise NotFound("Project not found.")
    if role != "admin" and role not in roles:
        raise Forbidden(f"This needs the {' or '.join(roles)} role in project {project.pk}; you are {role}.")
    return role


def require_role(user: AbstractBaseUser, project: Project, *roles: str) -> str:
    """Raise unless the user holds one of ``roles`` in the project (admins always pass)."""
    return _check_role(role_in(user, project), project, roles)


def with_role(queryset: QuerySet, user: AbstractBaseUser, project_field: str) -> QuerySet:
    """``queryset`` with the user's membership role in the project at ``project_field`` read in the same query;
    :func:`read_role` then gives the role without another one (hot paths)."""
    if not user.is_authenticated or user.is_staff:
        return queryset
    memberships = Membership.objects.filter(project=OuterRef(project_field), user=user)
    return queryset.annotate(member_role=Subquery(memberships.values("role")[:1]))


def read_role(user: AbstractBaseUser, row) -> str | None:
    """The role :func:`with_role` read along with ``row``, as :func:`role_in` would give it."""
    if not user.is_authenticated:
        return None
    return "admin" if user.is_staff else row.member_role


def project_for(user: AbstractBaseUser, project_id: int, *roles: str) -> Project:
    """The project, if the user holds one of ``roles`` there; project and membership in one query."""
    project = with_role(Project.objects.filter(pk=project_id), user, "pk").first()
    if project is None:
        raise NotFound("Project not found.")
    _check_role(read_role(user, project), project, roles)
    return project
