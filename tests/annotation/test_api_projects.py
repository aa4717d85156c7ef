"""Projects, members and tokens: the permission matrix and the one error shape."""

import pytest

from annotation.models import Membership, Project
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db

# Expected status per role for each endpoint on the main project.
MATRIX = [
    ("get", "/api/v1/projects/{id}/", None, {"anonymous": 401, "annotator": 403, "other_manager": 404, "manager": 200, "admin": 200}),
    ("patch", "/api/v1/projects/{id}/", {"guidelines": "Look closely."},
     {"anonymous": 401, "annotator": 403, "other_manager": 404, "manager": 200, "admin": 200}),
    ("post", "/api/v1/projects/{id}/members/", {"username": "newbie", "role": "annotator"},
     {"anonymous": 401, "annotator": 403, "other_manager": 404, "manager": 201, "admin": 201}),
]


@pytest.mark.parametrize("method,url,body,expected", MATRIX)
@pytest.mark.parametrize("role", ["anonymous", "annotator", "other_manager", "manager", "admin"])
def test_permission_matrix_for_project_endpoints(project_world, method, url, body, expected, role):
    from tests.conftest import make_user

    make_user("newbie")
    client = project_world["clients"][role]
    response = getattr(client, method)(url.format(id=project_world["project"].id), body, format="json")
    assert response.status_code == expected[role], response.content
    if response.status_code >= 400:
        assert set(response.json()["error"]) == {"code", "message", "fields"}


def test_project_list_shows_only_my_projects(project_world):
    names = lambda role: sorted(p["name"] for p in project_world["clients"][role].get("/api/v1/projects/").json())  # noqa: E731
    assert names("manager") == ["Main"]
    assert names("other_manager") == ["Other"]
    assert names("admin") == ["Main", "Other"]
    assert project_world["clients"]["anonymous"].get("/api/v1/projects/").status_code == 401


def test_manager_creates_a_project_and_becomes_its_manager(project_world):
    response = project_world["clients"]["manager"].post("/api/v1/projects/", {"name": "Wan vs LTX", "overlap": 5}, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["overlap"] == 5 and body["role"] == "manager"
    assert [d["key"] for d in body["dimensions"]] == ["vq", "mq", "ta", "overall"]
    assert Membership.objects.get(project_id=body["id"], user=project_world["users"]["manager"]).role == "manager"


def test_annotator_cannot_create_projects(project_world):
    response = project_world["clients"]["annotator"].post("/api/v1/projects/", {"name": "Mine"}, format="json")
    assert response.status_code == 403
    assert Project.objects.filter(name="Mine").count() == 0


@pytest.mark.parametrize("body,field", [
    ({"dimensions": [{"key": "VQ!"}]}, "dimensions"),
    ({"dimensions": [{"key": "vq"}, {"key": "vq"}]}, "dimensions"),
    ({"overlap": 0}, "overlap"),
    ({"gold_ratio": 1.5}, "gold_ratio"),
    ({"lease_seconds": 5}, "lease_seconds"),
    ({"lease_seconds": 2**31}, "lease_seconds"),  # past the column: was a DataError 500
    ({"max_width": 2**31}, "max_width"),
    ({"max_height": 2**40}, "max_height"),
])
def test_bad_project_settings_are_rejected_and_nothing_changes(project_world, body, field):
    project = project_world["project"]
    response = project_world["clients"]["manager"].patch(f"/api/v1/projects/{project.id}/", body, format="json")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid" and field in error["fields"]
    project.refresh_from_db()
    assert project.overlap == 3 and project.gold_ratio == 0.05 and len(project.dimensions) == 4


def test_malformed_json_gets_a_clear_400(project_world):
    client = project_world["clients"]["manager"]
    response = client.generic("PATCH", f"/api/v1/projects/{project_world['project'].id}/", "{not json", content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "malformed_json"


def test_token_for_good_credentials_and_clear_error_for_bad(project_world):
    from rest_framework.test import APIClient

    client = APIClient()
    ok = client.post("/api/v1/auth/token/", {"username": "manager", "password": PASSWORD}, format="json")
    assert ok.status_code == 200 and len(ok.json()["token"]) == 40
    bad = client.post("/api/v1/auth/token/", {"username": "manager", "password": "nope"}, format="json")
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid_credentials"
    client.credentials(HTTP_AUTHORIZATION=f"Token {ok.json()['token']}")
    assert client.get("/api/v1/projects/").status_code == 200
    client.credentials(HTTP_AUTHORIZATION="Token deadbeef")
    assert client.get("/api/v1/projects/").status_code == 401


def test_adding_an_unknown_user_says_so(project_world):
    response = project_world["clients"]["manager"].post(
        f"/api/v1/projects/{project_world['project'].id}/members/", {"username": "ghost", "role": "annotator"}, format="json")
    assert response.status_code == 404
    assert "ghost" in response.json()["error"]["message"]
