"""Password guessing: 20 failed sign-ins per username a minute (then 429 with Retry-After, even for the right
password), other usernames unaffected, and a limit per client address; on the token endpoint and the login pages."""

import uuid

import pytest
from django.test import Client
from rest_framework.test import APIClient

from tests.conftest import PASSWORD, make_user

pytestmark = pytest.mark.django_db


def fresh_address() -> str:
    """A client address of its own: throttle history lives in the shared cache for a minute."""
    return f"10.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}"


def token(username: str, password: str, address: str):
    return APIClient().post("/api/v1/auth/token/", {"username": username, "password": password}, format="json",
                            REMOTE_ADDR=address)


def test_the_token_endpoint_locks_a_guessed_username_and_not_the_others():
    victim, bystander = make_user(f"victim-{uuid.uuid4().hex[:8]}"), make_user(f"other-{uuid.uuid4().hex[:8]}")
    address = fresh_address()
    assert [token(victim.username, f"guess{i}", address).status_code for i in range(20)] == [400] * 20

    locked = token(victim.username, PASSWORD, address)
    assert locked.status_code == 429 and 0 < int(locked["Retry-After"]) <= 60
    assert locked.json()["error"]["code"] == "throttled" and "try again in" in locked.json()["error"]["message"]
    assert token(victim.username, PASSWORD, fresh_address()).status_code == 429  # from anywhere
    assert token(victim.username.upper(), PASSWORD, fresh_address()).status_code == 429
    assert token(bystander.username, PASSWORD, address).status_code == 200


def test_one_address_guessing_many_usernames_is_throttled_and_others_are_not():
    user = make_user(f"user-{uuid.uuid4().hex[:8]}")
    address = fresh_address()
    statuses = [token(f"nobody-{i}-{uuid.uuid4().hex[:6]}", "x", address).status_code for i in range(100)]
    assert statuses == [400] * 100
    assert token(user.username, PASSWORD, address).status_code == 429
    assert token(user.username, PASSWORD, fresh_address()).status_code == 200


@pytest.mark.parametrize("path", ["/login/", "/admin/login/"])
def test_the_login_pages_lock_a_guessed_username(path):
    victim = make_user(f"page-victim-{uuid.uuid4().hex[:8]}", staff=True)
    address = fresh_address()
    client = Client(REMOTE_ADDR=address)
    for i in range(20):
        assert client.post(path, {"username": victim.username, "password": f"guess{i}"}).status_code == 200

    locked = client.post(path, {"username": victim.username, "password": PASSWORD})
    assert locked.status_code == 429 and int(locked["Retry-After"]) > 0
    assert "Too many failed sign-ins" in locked.content.decode() and "_auth_user_id" not in client.session
    bystander = make_user(f"page-other-{uuid.uuid4().hex[:8]}", staff=True)
    assert client.post(path, {"username": bystander.username, "password": PASSWORD}).status_code == 302
