"""Writes for projects and memberships."""

import re
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction

from annotation.models import Membership, Project
from config.errors import InvalidInput, NotFound

_KEY = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
EDITABLE = ("name", "description", "dimensions", "overlap", "lease_seconds", "guidelines", "gold_ratio",
            "max_duration_s", "max_width", "max_height")


def validate_dimensions(dimensions: Any) -> list[dict]:
    if not isinstance(dimensions, list) or not dimensions:
        raise InvalidInput("dimensions must be a non-empty list of {key, label, description}.", fields={"dimensions": ["not a non-empty list"]})
    seen: set[str] = set()
    cleaned = []
    for i, dim in enumerate(dimensions):
        if not isinstance(dim, dict) or not isinstance(dim.get("key"), str):
            raise InvalidInput(f"dimensions[{i}] needs a 'key'.", fields={"dimensions": [f"item {i} has no key"]})
        key = dim["key"]
        if not _KEY.match(key):
            raise InvalidInput(f"dimension key {key!r} must be lower-case letters, digits or _, starting with a letter.",
                               fields={"dimensions": [f"bad key {key!r}"]})
        if key in seen:
            raise InvalidInput(f"dimension key {key!r} appears twice.", fields={"dimensions": [f"duplicate key {key!r}"]})
        seen.add(key)
        cleaned.append({"key": key, "label": str(dim.get("label") or key.upper()), "description": str(dim.get("description", ""))})
    return cleaned


def _validate(fields: dict[str, Any]) -> dict[str, Any]:
    unknown = set(fields) - set(EDITABLE)
    if unknown:
        raise InvalidInput(f"Unknown project fields: {', '.join(sorted(unknown))}.", fields={k: ["unknown field"] for k in unknown})
    if "dimensions" in fields:
        fields["dimensions"] = validate_dimensions(fields["dimensions"])
    if "overlap" in fields and not 1 <= int(fields["overlap"]) <= 50:
        raise InvalidInput("overlap must be between 1 and 50.", fields={"overlap": ["out of range"]})
    if "lease_seconds" in fields and int(fields["lease_seconds"]) < 30:
        raise InvalidInput("lease_seconds must be at least 30.", fields={"lease_seconds": ["too short"]})
    if "gold_ratio" in fields and not 0 <= float(fields["gold_ratio"]) <= 1:
        raise InvalidInput("gold_ratio must be between 0 and 1.", fields={"gold_ratio": ["out of range"]})
    return fields


@transaction.atomic
def project_create(*, created_by: AbstractBaseUser, name: str, **fields: Any) -> Project:
    fields = _validate(fields)
    project = Project.objects.create(name=name, created_by=created_by, **fields)
    if not created_by.is_staff:
        Membership.objects.create(project=project, user=created_by, role=Membership.Role.MANAGER)
    return project


@transaction.atomic
def project_update(*, project: Project, **fields: Any) -> Project:
    fields = _validate(fields)
    for name, value in fields.items():
        setattr(project, name, value)
    project.save(update_fields=list(fields) or None)
    return project


@transaction.atomic
def membership_set(*, project: Project, username: str, role: str) -> Membership:
    """Add a user to a project, or change their role."""
    if role not in Membership.Role.values:
        raise InvalidInput(f"role must be one of {', '.join(Membership.Role.values)}.", fields={"role": ["invalid"]})
    user = get_user_model().objects.filter(username=username).first()
    if user is None:
        raise NotFound(f"No user named {username!r}. Create the account first (Django admin or createsuperuser).")
    membership, _ = Membership.objects.update_or_create(project=project, user=user, defaults={"role": role})
    return membership
