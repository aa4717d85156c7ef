"""One JSON error shape for the whole API: ``{"error": {"code", "message", "fields"}}``."""

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from config.errors import ServiceError


def _flatten(detail) -> str:
    if isinstance(detail, dict):
        return "; ".join(f"{k}: {_flatten(v)}" for k, v in detail.items())
    if isinstance(detail, list):
        return " ".join(_flatten(v) for v in detail)
    return str(detail)


def _fields(detail) -> dict:
    if isinstance(detail, dict):
        return {k: [_flatten(v)] if not isinstance(v, list) else [_flatten(x) for x in v] for k, v in detail.items()}
    return {}


def error_response(*, code: str, message: str, status_code: int, fields: dict | None = None) -> Response:
    return Response({"error": {"code": code, "message": message, "fields": fields or {}}}, status=status_code)


def exception_handler(exc, context):
    if isinstance(exc, ServiceError):
        return error_response(code=exc.code, message=exc.message, status_code=exc.status_code, fields=exc.fields)
    if isinstance(exc, DjangoValidationError):
        detail = exc.message_dict if hasattr(exc, "error_dict") else exc.messages
        return error_response(code="invalid", message=_flatten(detail), status_code=400, fields=_fields(detail))
    if isinstance(exc, Http404):
        exc = exceptions.NotFound(str(exc) or "Not found.")
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied(str(exc) or None)

    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        message = _flatten(exc.detail)
        fields = _fields(exc.detail)
        code = "invalid"
    else:
        message = _flatten(exc.detail) if hasattr(exc, "detail") else str(exc)
        fields = {}
        code = getattr(exc, "default_code", "error")
        if isinstance(exc, exceptions.ParseError):
            code = "malformed_json" if "JSON" in message else "parse_error"
    if response.status_code == status.HTTP_401_UNAUTHORIZED:
        message += " Get a token with POST /api/v1/auth/token/ and send 'Authorization: Token <key>'."
    response.data = {"error": {"code": code, "message": message, "fields": fields}}
    return response
