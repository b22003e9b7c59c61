"""From a group of suggestions to a card, and from a card to what it duplicates. Pure: the
pipeline (`jobs/pipelines/generate_proposals.py`) feeds it rows and writes what it returns.

Confidence = cohesion × (1 − e^(−supporters / 3)): a tight group that three viewers asked for
scores about 0.6 of its cohesion, ten viewers about 0.96; one viewer alone never makes a card.

Duplicates: a group (or a suggestion left alone) is the same idea as an existing node or open
card when one of its members, normalised (`jobs.clustering.normalize`), scores at least
PROPOSALS_MATCH_SCORE against the node's name or key, or the card's title, with rapidfuzz's
`token_sort_ratio` (word order and typos forgiven). Not `token_set_ratio`: it scores a subset
100, so every "dragon ..." idea would join a node called "Dragon".
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from rapidfuzz import fuzz, process

from jobs.clustering import display_title, normalize

MAX_QUOTES = 5
MAX_COMPARED = 30  # distinct member texts of a group compared with the candidates


@dataclass(frozen=True)
class Member:
    id: int
    text: str
    viewer_key: str
    display_name: str


@dataclass(frozen=True)
class Draft:
    title: str
    summary: str
    supporters: int
    suggestion_count: int
    sample_quotes: list[dict[str, str]]
    confidence: float


def confidence(cohesion: float, supporters: int) -> float:
    value = max(0.0, min(1.0, cohesion)) * (1 - math.exp(-supporters / 3))
    return round(max(0.0, min(1.0, value)), 3)


def draft(members: Sequence[Member], representative: Member, cohesion: float) -> Draft:
    """The card for a group: title from its most representative suggestion."""
    supporters = len({member.viewer_key for member in members})
    quotes = _quotes(members, representative)
    examples = ", ".join(f"“{quote['text']}”" for quote in quotes[:2])
    viewers = "viewer" if supporters == 1 else "viewers"
    said = "suggestion" if len(members) == 1 else "suggestions"
    return Draft(
        title=display_title(representative.text),
        summary=f"{supporters} {viewers} asked for this in {len(members)} {said}: {examples}.",
        supporters=supporters,
        suggestion_count=len(members),
        sample_quotes=quotes,
        confidence=confidence(cohesion, supporters),
    )


def _quotes(members: Sequence[Member], representative: Member) -> list[dict[str, str]]:
    """Up to MAX_QUOTES distinct wordings, the representative first, one per viewer first."""
    chosen: list[dict[str, str]] = []
    seen_texts: set[str] = set()
    seen_viewers: set[str] = set()
    ordered = [representative, *(m for m in members if m.id != representative.id)]
    for second_pass in (False, True):
        for member in ordered:
            wording = display_title(member.text, limit=300)
            key = wording.casefold()
            if key in seen_texts or (member.viewer_key in seen_viewers and not second_pass):
                continue
            seen_texts.add(key)
            seen_viewers.add(member.viewer_key)
            chosen.append({"text": wording, "by": member.display_name})
            if len(chosen) == MAX_QUOTES:
                return chosen
    return chosen


@dataclass(frozen=True)
class Candidate:
    kind: str  # "node" or "proposal"
    id: int
    label: str  # normalised name


def node_candidates(nodes: Iterable[tuple[int, str, str]]) -> list[Candidate]:
    """(id, key, name) of tree nodes: each is matched by its name and by its key."""
    found: list[Candidate] = []
    for node_id, key, name in nodes:
        for label in {normalize(name), normalize(key)}:
            if label:
                found.append(Candidate("node", node_id, label))
    return found


def proposal_candidates(proposals: Iterable[tuple[int, str]]) -> list[Candidate]:
    return [
        Candidate("proposal", pk, label) for pk, title in proposals if (label := normalize(title))
    ]


def best_match(
    texts: Sequence[str], candidates: Sequence[Candidate], threshold: int
) -> tuple[Candidate, float] | None:
    """The candidate the group duplicates, if any: the best score of any of its (most common)
    wordings; nodes win ties, then the oldest."""
    if not candidates:
        return None
    labels = [candidate.label for candidate in candidates]
    wordings = [text for text, _ in Counter(filter(None, map(normalize, texts))).most_common()]
    best: tuple[float, int] | None = None
    for wording in wordings[:MAX_COMPARED]:
        for _label, score, index in process.extract(
            wording, labels, scorer=fuzz.token_sort_ratio, score_cutoff=threshold, limit=None
        ):
            rank = (score, -_order(candidates[index]))
            if best is None or rank > (best[0], -_order(candidates[best[1]])):
                best = (score, index)
    if best is None:
        return None
    return candidates[best[1]], best[0]


def _order(candidate: Candidate) -> int:
    """Nodes before proposals, then by id."""
    return (0 if candidate.kind == "node" else 1) * 10**12 + candidate.id
