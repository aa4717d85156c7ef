"""One JSON error shape for the whole API: ``{"error": {"code", "message", "fields"}}``.

DRF views go through :func:`exception_handler`; what happens outside them (no such URL, a body too large
for Django, an unhandled exception) goes through the ``handler*`` views, which answer ``/api/`` in the same
shape and leave the pages to Django's templates.
"""

import logging

from django.conf import settings
from django.core.exceptions import BadRequest, RequestDataTooBig
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import DataError
from django.http import Http404, JsonResponse
from django.shortcuts import render
from django.views import defaults
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


logger = logging.getLogger(__name__)

TOO_LARGE = "The request body is too large; send at most {limit} bytes of form or JSON data (files go in multipart uploads)."


def error_body(*, code: str, message: str, fields: dict | None = None) -> dict:
    return {"error": {"code": code, "message": message, "fields": fields or {}}}


def error_response(*, code: str, message: str, status_code: int, fields: dict | None = None) -> Response:
    return Response(error_body(code=code, message=message, fields=fields), status=status_code)


def _too_large() -> dict:
    return error_body(code="too_large", message=TOO_LARGE.format(limit=settings.DATA_UPLOAD_MAX_MEMORY_SIZE))


def exception_handler(exc, context):
    if isinstance(exc, ServiceError):
        return error_response(code=exc.code, message=exc.message, status_code=exc.status_code, fields=exc.fields)
    if isinstance(exc, DjangoValidationError):
        detail = exc.message_dict if hasattr(exc, "error_dict") else exc.messages
        return error_response(code="invalid", message=_flatten(detail), status_code=400, fields=_fields(detail))
    if isinstance(exc, RequestDataTooBig):
        return Response(_too_large(), status=413)
    if isinstance(exc, DataError):  # a value no serializer caught that the column cannot hold: still the caller's
        logger.warning("DataError reached the API: %s", exc)
        return error_response(code="invalid", status_code=400,
                              message=f"The database refused a value: {str(exc).splitlines()[0]}. Check number "
                                      "ranges and remove NUL (\\u0000) characters.")
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


def _is_api(request) -> bool:
    return request.path.startswith("/api/")


def handler400(request, exception):
    if _is_api(request):
        if isinstance(exception, RequestDataTooBig):
            return JsonResponse(_too_large(), status=413)
        return JsonResponse(error_body(code="bad_request", message=str(exception) or "Bad request."), status=400)
    if isinstance(exception, BadRequest):  # our views' own words (a refused query parameter); Django's
        # SuspiciousOperation messages may describe the server, so those keep the page without them
        return render(request, "400.html", {"exception": str(exception)}, status=400)
    return defaults.bad_request(request, exception)


def handler403(request, exception):
    if _is_api(request):
        return JsonResponse(error_body(code="permission_denied", message=str(exception) or "Forbidden."), status=403)
    return defaults.permission_denied(request, exception)


def handler404(request, exception):
    if _is_api(request):
        return JsonResponse(error_body(code="not_found", message=f"No API endpoint at {request.path}; the list is "
                                                                   "at /api/docs/ and /api/schema/."), status=404)
    return defaults.page_not_found(request, exception)


def handler500(request):
    if _is_api(request):
        return JsonResponse(error_body(code="server_error", message="The server failed on this request; it is "
                                                                      "logged. Try again, or report it."), status=500)
    return defaults.server_error(request)
