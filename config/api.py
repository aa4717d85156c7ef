"""What every app's REST API shares: input validation in the one error shape, bounded integers and offsets,
and the admin-only permission."""

from rest_framework import serializers
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.permissions import BasePermission


def validated(serializer_class: type[serializers.Serializer], data, **kwargs) -> dict:
    """The input checked by the endpoint's serializer (400 with the fields named otherwise)."""
    serializer = serializer_class(data=data, **kwargs)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


# Column bounds for integer inputs: a number that does not fit is a 400 naming its field, not a DataError.
INT32_MAX = 2**31 - 1  # IntegerField, PositiveIntegerField
INT64_MAX = 2**63 - 1  # BigIntegerField, ids, OFFSET


def id_field(**kwargs) -> serializers.IntegerField:
    """A row id given as input."""
    return serializers.IntegerField(min_value=1, max_value=INT64_MAX, **kwargs)


class BoundedLimitOffsetPagination(LimitOffsetPagination):
    """DRF's limit/offset, with a value that is no count (abc, -1, past the database's range) a 400 naming it where
    DRF would quietly use its default."""

    def get_limit(self, request) -> int:
        return validated(PageParams, request.query_params).get("limit", self.default_limit)

    def get_offset(self, request) -> int:
        return validated(PageParams, request.query_params).get("offset", 0)


class PageParams(serializers.Serializer):
    limit = serializers.IntegerField(min_value=1, max_value=INT64_MAX, required=False)
    offset = serializers.IntegerField(min_value=0, max_value=INT64_MAX, required=False)


class JSONTextField(serializers.JSONField):
    """JSON sent as text in a form field (multipart meta): deep nesting is a 400, as in a JSON body."""

    def to_internal_value(self, data):
        try:
            return super().to_internal_value(data)
        except RecursionError:
            self.fail("invalid")


class IsStaff(BasePermission):
    message = "Only admins (staff users) can do this."

    def has_permission(self, request, view) -> bool:
        return bool(request.user and request.user.is_authenticated and request.user.is_staff)
