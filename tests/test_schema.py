"""The OpenAPI schema tells the truth: every operation documents its errors in the error shape, and media
routes document the content types they serve."""

import pytest
import yaml
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def schema(django_db_blocker) -> dict:
    with django_db_blocker.unblock():
        return yaml.safe_load(APIClient().get("/api/schema/").content)


def operations(schema: dict):
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            if method in {"get", "post", "put", "patch", "delete"}:
                yield f"{method.upper()} {path}", operation


def test_every_operation_documents_its_errors_in_the_error_shape(schema):
    error = {"$ref": "#/components/schemas/Error"}
    for name, operation in operations(schema):
        responses = operation["responses"]
        expected = {"404", "500"} | ({"400", "413"} if "requestBody" in operation else set())
        assert expected <= set(responses), name
        for code in expected:
            assert responses[code]["content"]["application/json"]["schema"] == error, (name, code)
    assert set(schema["components"]["schemas"]["ErrorDetail"]["properties"]) == {"code", "message", "fields"}


def test_the_token_endpoint_documents_throttling(schema):
    assert {"200", "400", "429"} <= set(schema["paths"]["/api/v1/auth/token/"]["post"]["responses"])


@pytest.mark.parametrize("path, types", [
    ("/api/v1/assignments/{assignment_id}/media/{side}/poster", ["image/jpeg"]),
    ("/api/v1/assignments/{assignment_id}/media/{side}", ["video/mp4"]),
    ("/api/v1/projects/{project_id}/videos/{video_id}/file/", ["video/mp4", "image/jpeg", "application/octet-stream"]),
])
def test_media_routes_document_what_they_serve(schema, path, types):
    responses = schema["paths"][path]["get"]["responses"]
    assert list(responses["200"]["content"]) == types and list(responses["206"]["content"]) == types
    assert {"302", "304", "416"} <= set(responses)


@pytest.mark.parametrize("path, query", [
    ("/api/v1/projects/{project_id}/videos/", {"status": ["pending", "ready", "failed"], "limit": None, "offset": None}),
    ("/api/v1/projects/{project_id}/videos/{video_id}/file/", {"variant": ["playback", "poster", "original"]}),
    ("/api/v1/runs/", {"kind": None, "project": None, "status": None, "limit": None, "offset": None}),
    ("/api/v1/generations/", {"project": None, "status": None, "limit": None, "offset": None}),
])
def test_query_parameters_are_documented_with_what_they_accept(schema, path, query):
    operation = schema["paths"][path]["get"]
    documented = {p["name"]: p["schema"] for p in operation["parameters"] if p["in"] == "query"}
    assert set(documented) == set(query) and "400" in operation["responses"]
    for name, enum in query.items():
        if enum:
            assert documented[name]["enum"] == enum, name
    for name in {"limit", "offset"} & set(query):
        assert documented[name]["minimum"] == (1 if name == "limit" else 0), name
