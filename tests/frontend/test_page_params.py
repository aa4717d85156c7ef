"""Pages check their query strings: a value they cannot use is the styled 400 page naming the parameter, not a
500 and not a filter quietly dropped (which would show every row under a filter the user believes applies)."""

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db


def page(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def assert_bad_parameter(response, name: str) -> None:
    assert response.status_code == 400, response.content[:300]
    html = response.content.decode()
    assert response["Content-Type"].startswith("text/html") and "Back to your projects" in html
    assert f"{name}:" in html


@pytest.mark.parametrize("query, name", [
    ("project=abc", "project"),
    ("project=99999999999999999999", "project"),
    ("project=-1", "project"),
    ("reward_model=abc", "reward_model"),
    ("alignment_run=0", "alignment_run"),
    ("nrg_run=99999999999999999999", "nrg_run"),
])
def test_the_runs_page_refuses_bad_parameters(project_world, query, name):
    assert_bad_parameter(page(project_world["users"]["admin"]).get(f"/runs/?{query}"), name)


def test_the_runs_page_refuses_a_project_that_does_not_exist_rather_than_listing_nothing(project_world):
    assert_bad_parameter(page(project_world["users"]["admin"]).get("/runs/?project=99999"), "project")


def test_the_runs_page_takes_good_parameters(project_world):
    client, project = page(project_world["users"]["admin"]), project_world["project"]
    response = client.get(f"/runs/?project={project.pk}&reward_model=7&base=")
    assert response.status_code == 200 and response.context["project_id"] == project.pk
    assert response.context["preselect"] == {"reward_model": 7, "base": ""}
    assert client.get("/runs/?project=").context["project_id"] is None  # the filter's "all projects"


@pytest.mark.parametrize("query, name", [
    ("ids=1,two", "ids"), ("ids=-3", "ids"), ("ids=99999999999999999999", "ids"), ("project=abc", "project"),
])
def test_the_evaluations_page_refuses_bad_parameters(project_world, query, name):
    assert_bad_parameter(page(project_world["users"]["admin"]).get(f"/runs/evaluations/?{query}"), name)


def test_the_evaluations_page_takes_a_list_of_ids(project_world):
    assert page(project_world["users"]["admin"]).get("/runs/evaluations/?ids=1, 2,&project=").status_code == 200


@pytest.mark.parametrize("query, name", [("status=bogus", "status"), ("page=abc", "page"), ("page=0", "page")])
def test_the_manage_page_refuses_bad_parameters(project_world, query, name):
    url = f"/projects/{project_world['project'].pk}/manage/?{query}"
    assert_bad_parameter(page(project_world["users"]["manager"]).get(url), name)


def test_a_bad_parameter_is_checked_after_access(project_world):
    """Who may open the page is answered first: an annotator learns nothing from a bad parameter."""
    url = f"/projects/{project_world['project'].pk}/manage/?status=bogus"
    assert page(project_world["users"]["annotator"]).get(url).status_code == 403
