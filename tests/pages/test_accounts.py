"""Viewer accounts: sign up, sign in, sign out, back to the page the viewer came from."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from pages import ratelimit
from tests.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db


def test_sign_up_creates_a_plain_viewer_signs_them_in_and_goes_back(client) -> None:  # noqa: ANN001
    response = client.post(
        "/accounts/signup/",
        {"username": "ann", "password1": PASSWORD, "password2": PASSWORD, "next": "/c/demo/"},
    )
    assert response.status_code == 302
    assert response["Location"] == "/c/demo/"
    user = get_user_model().objects.get(username="ann")
    assert not user.is_staff and not user.is_superuser
    assert client.session["_auth_user_id"] == str(user.pk)


def test_sign_up_refuses_weak_passwords_and_foreign_next(client) -> None:  # noqa: ANN001
    weak = client.post(
        "/accounts/signup/", {"username": "bob", "password1": "password", "password2": "password"}
    )
    assert weak.status_code == 200
    assert "too common" in weak.content.decode()
    assert not get_user_model().objects.filter(username="bob").exists()
    away = client.post(
        "/accounts/signup/",
        {
            "username": "bob",
            "password1": PASSWORD,
            "password2": PASSWORD,
            "next": "https://evil.example/",
        },
    )
    assert away["Location"] == "/"


def test_sign_in_goes_back_to_next_and_sign_out_needs_a_post(client) -> None:  # noqa: ANN001
    user = UserFactory()
    response = client.post(
        "/accounts/login/", {"username": user.username, "password": PASSWORD, "next": "/c/x/"}
    )
    assert response.status_code == 302 and response["Location"] == "/c/x/"
    assert client.get("/accounts/logout/").status_code == 405  # a link cannot sign you out
    assert client.post("/accounts/logout/").status_code == 302
    assert "_auth_user_id" not in client.session


def test_sign_in_forms_are_protected_by_csrf() -> None:
    from django.test import Client

    strict = Client(enforce_csrf_checks=True)
    assert strict.post("/accounts/login/", {"username": "a", "password": "b"}).status_code == 403
    assert strict.post("/accounts/signup/", {"username": "a"}).status_code == 403


def test_guessing_passwords_is_slowed_down_per_address(client, settings) -> None:  # noqa: ANN001
    user = UserFactory()
    for _ in range(settings.SIGN_IN_ATTEMPTS):
        wrong = client.post("/accounts/login/", {"username": user.username, "password": "nope"})
        assert wrong.status_code == 200
    refused = client.post("/accounts/login/", {"username": user.username, "password": PASSWORD})
    assert refused.status_code == 429
    assert refused["Retry-After"] == str(ratelimit.WINDOW_SECONDS)
