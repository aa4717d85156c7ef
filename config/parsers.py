"""The API's JSON parser: DRF's, with deep nesting and oversized bodies refused in the error shape."""

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser


class SafeJSONParser(JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        request = (parser_context or {}).get("request")
        length = request.META.get("CONTENT_LENGTH") if request is not None else None
        # DRF reads a JSON body straight from the socket, past Django's DATA_UPLOAD_MAX_MEMORY_SIZE check.
        if length and length.isdigit() and int(length) > settings.DATA_UPLOAD_MAX_MEMORY_SIZE:
            raise RequestDataTooBig(f"The JSON body is larger than {settings.DATA_UPLOAD_MAX_MEMORY_SIZE} bytes.")
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError:  # "[[[[…" thousands deep: the stdlib decoder gives up with RecursionError
            raise ParseError("JSON parse error - the document is nested too deeply.") from None
