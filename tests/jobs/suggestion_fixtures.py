"""Fixtures of the suggestions suites (tests/jobs/conftest.py belongs to the job machinery's
suites: the suggestion suites import these by name)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from communities.models import Community
from jobs.suggestions_models import Suggestion
from tests.factories import issue_token

LABELLED = Path(__file__).parent / "fixtures" / "suggestions_labelled.json"


def labelled() -> tuple[list[str], list[str]]:
    """(texts, true labels) of the labelled fixture; each noise line is a label of its own."""
    data = json.loads(LABELLED.read_text())
    texts: list[str] = []
    truth: list[str] = []
    for group in data["groups"]:
        texts.extend(group["suggestions"])
        truth.extend([group["label"]] * len(group["suggestions"]))
    for number, text in enumerate(data["noise"]):
        texts.append(text)
        truth.append(f"noise-{number}")
    return texts, truth


@pytest.fixture
def relay(community: Community) -> str:
    """The secret of an ingest-scoped token: the chat bot relaying "!suggest ..."."""
    return issue_token(community, "ingest").secret


@pytest.fixture
def suggest() -> Callable[..., Suggestion]:
    """suggest(community, text, viewer="ann"): a pending suggestion written directly, each
    with a message id of its own."""
    counter = iter(range(1_000_000))

    def make(community: Community, text: str, viewer: str = "ann", **extra: Any) -> Suggestion:
        number = next(counter)
        return Suggestion.objects.create(
            community=community,
            text=text,
            viewer_key=f"viewer:{viewer}",
            platform_user_id=viewer,
            message_id=f"bot:m-{number}",
            **extra,
        )

    return make
