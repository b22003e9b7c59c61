"""Every write of a viewer's suggestion: the text rules, idempotency by message id, the
per-viewer rate limit. (The `generate_proposals` pipeline writes the rest.)"""

from __future__ import annotations

import logging
import math
import unicodedata
from dataclasses import dataclass

from django.conf import settings
from django.db import IntegrityError, transaction

from communities.models import Community
from config.edge import RateLimited
from jobs.suggestions_models import TEXT_MAX, TEXT_MIN, Suggestion
from progression.ratelimit import take_one

logger = logging.getLogger(__name__)
_PERIODS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def clean_text(text: str) -> str:
    """The suggestion as stored: trimmed, 3–300 characters, no control characters (NUL, line
    breaks, escapes: a chat line has none) and no lone surrogates (not text at all)."""
    text = text.strip()
    if any(unicodedata.category(ch) in {"Cc", "Cs"} for ch in text):
        raise ValueError("must not contain control characters")
    if not TEXT_MIN <= len(text) <= TEXT_MAX:
        raise ValueError(f"must be {TEXT_MIN} to {TEXT_MAX} characters once trimmed")
    return text


def clean_label(value: str) -> str:
    """Ids and names beside the text: no control characters nor lone surrogates either."""
    if any(unicodedata.category(ch) in {"Cc", "Cs"} for ch in value):
        raise ValueError("must not contain control characters")
    return value


@dataclass(frozen=True)
class NewSuggestion:
    text: str  # already through clean_text
    viewer_key: str  # "viewer:<platform_user_id>" or "user:<id>"
    message_id: str  # namespaced by the sender: "bot:<id>" or "user:<id>:<id>"
    platform_user_id: str = ""
    display_name: str = ""
    user_id: int | None = None


@dataclass(frozen=True)
class Submitted:
    suggestion: Suggestion
    created: bool  # False: a repeat of `message_id`, answered with the first suggestion


def submit_suggestion(community: Community, new: NewSuggestion) -> Submitted:
    """Records a suggestion once per message id. A repeat costs no rate-limit token (a bot
    retrying a relay is no new suggestion); a new one past the viewer's limit is 429.

    The row is inserted first and the token taken only by the insert that won: copies of one
    message sent at once wait on the unique index and then find the first, instead of each
    spending a token (eight copies at once used to exhaust a burst of five). A refused token
    rolls the insert back."""
    first = _by_message(community, new.message_id)
    if first is not None:
        return Submitted(first, created=False)
    try:
        with transaction.atomic(durable=True):
            suggestion = Suggestion.objects.create(
                community=community,
                text=new.text,
                viewer_key=new.viewer_key,
                platform_user_id=new.platform_user_id,
                display_name=new.display_name,
                user_id=new.user_id,
                message_id=new.message_id,
            )
            _take_token(community, new.viewer_key)
    except IntegrityError:
        first = _by_message(community, new.message_id)  # a concurrent copy committed first
        if first is None:
            raise
        return Submitted(first, created=False)
    logger.info(
        "suggestion recorded community=%s suggestion=%s viewer=%s",
        community.pk,
        suggestion.pk,
        new.viewer_key,
    )
    return Submitted(suggestion, created=True)


def _by_message(community: Community, message_id: str) -> Suggestion | None:
    return Suggestion.objects.filter(community=community, message_id=message_id).first()


def _take_token(community: Community, viewer_key: str) -> None:
    count, _, period = settings.SUGGESTION_RATE.partition("/")
    rate, burst = int(count) / _PERIODS[period[:1]], int(count)
    granted, left = take_one(f"suggest:{community.pk}:{viewer_key}", rate=rate, burst=burst)
    if not granted:
        raise RateLimited(
            f"At most {settings.SUGGESTION_RATE} suggestions per viewer; retry later.",
            retry_after=math.ceil((1 - left) / rate),
        )
