"""OpenAPI: nested per-endpoint serializers (``TokenApi.InputSerializer``) get their API's name, and every
operation documents the errors it can answer, in the one error shape (config/api_errors.py)."""

from drf_spectacular.openapi import AutoSchema as BaseAutoSchema
from rest_framework import serializers


class ErrorDetailSerializer(serializers.Serializer):
    code = serializers.CharField(help_text="Machine-readable: invalid, not_found, malformed_json, too_large, …")
    message = serializers.CharField(help_text="What went wrong and what to do next.")
    fields = serializers.DictField(child=serializers.ListField(child=serializers.CharField()),
                                   help_text="Per input field, its problems (empty when none is to blame).")


class ErrorSerializer(serializers.Serializer):
    error = ErrorDetailSerializer()


# Errors any operation can answer, and those that need authentication or take input.
ANY_ERRORS = {404: "Not found (or not yours to see).", 500: "A server failure, logged."}
AUTH_ERRORS = {401: "No or a bad token/session.", 403: "Your role does not allow this."}
INPUT_ERRORS = {400: "Invalid input; `fields` names the inputs at fault.", 413: "The body is too large."}


class AutoSchema(BaseAutoSchema):
    def get_serializer_name(self, serializer, direction) -> str:
        cls = type(serializer)
        outer, _, inner = cls.__qualname__.rpartition(".")
        if outer:
            return outer.removesuffix("Api") + inner.removesuffix("Serializer")
        return super().get_serializer_name(serializer, direction)

    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        errors = dict(ANY_ERRORS)
        if self.get_auth():
            errors.update(AUTH_ERRORS)
        if self.method in ("POST", "PUT", "PATCH") or self._get_filter_parameters() or self.get_override_parameters():
            errors.update(INPUT_ERRORS)
        error = self._get_response_for_code(ErrorSerializer, "400")["content"]
        for code, description in errors.items():
            responses.setdefault(str(code), {"description": description, "content": error})
        return responses
