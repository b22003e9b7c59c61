"""How accepted cards become tree nodes: the plan (a key, tier, cost and prerequisites per
card) and its check by `load_tree`'s own rules. Reads only; `jobs.build_services` writes.

- key: the title slugified to the node key pattern (`progression.models.KEY_PATTERN`: ASCII
  letters, digits and `_`, starting with a letter; `node_` put in front otherwise), at most 56
  characters, then `_2`, `_3`... while it is taken by a node of the community (retired ones
  too) or by an earlier card of the same build.
- name: the title; description: the summary; size: medium; tier: the card's.
- cost: the card's; none given: the tree's default for a medium node at that tier
  (`progression.models.default_cost`, e.g. 200 at tier 0, 300 at tier 1).
- prerequisites: the card's, each a node key (level 1) or `card:<id>`: another card of the
  same build (its planned key) or one built before (its node's key).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from communities.errors import InvalidInput
from communities.models import Community
from jobs.suggestions_models import Column, Proposal
from progression.models import Node, Size
from progression.services.tree import validate_additions
from progression.tree_schema import NodeSpec

KEY_LENGTH = 56  # room for a `_<n>` suffix within the 64 characters of a key
CARD_REFERENCE = re.compile(r"^card:(\d+)$")


def buildable_cards(community_id: int, only: Iterable[int] | None = None) -> list[int]:
    """Accepted cards on the board without a node yet, in board order."""
    cards = Proposal.objects.filter(
        community_id=community_id,
        column=Column.ACCEPTED,
        built_node__isnull=True,
        position__isnull=False,
    )
    if only is not None:
        cards = cards.filter(pk__in=list(only))
    return list(cards.order_by("position").values_list("pk", flat=True))


def node_key(title: str, taken: set[str]) -> str:
    ascii_title = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode()
    base = re.sub(r"[^a-z0-9]+", "_", ascii_title.lower()).strip("_")
    if not base or not base[0].isalpha():
        base = f"node_{base}".rstrip("_")
    base = base[:KEY_LENGTH].rstrip("_")
    key, suffix = base, 1
    while key in taken:
        suffix += 1
        key = f"{base}_{suffix}"
    return key


@dataclass
class Plan:
    """One raw node (tree-file shape) per card, in the cards' order, and the problems found
    while planning (a `card:<id>` that names no card of this build nor a built one)."""

    cards: list[tuple[int, str]] = field(default_factory=list)  # (card id, title)
    nodes: list[dict[str, Any]] = field(default_factory=list)
    problems: dict[str, list[str]] = field(default_factory=dict)
    # Per node, where each of its prerequisites sits in the card's list (some were dropped).
    sources: list[list[int]] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {
            "cards": self.cards,
            "nodes": self.nodes,
            "problems": self.problems,
            "sources": self.sources,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Plan:
        cards = [(int(card), str(title)) for card, title in data["cards"]]
        return cls(cards, list(data["nodes"]), dict(data["problems"]), list(data["sources"]))


def plan_build(community: Community, card_ids: Sequence[int]) -> Plan:
    """The nodes the cards would become (cards built or gone meanwhile are left out)."""
    cards = {
        card.pk: card
        for card in Proposal.objects.filter(
            pk__in=list(card_ids), community=community, built_node__isnull=True
        )
    }
    ordered = [cards[pk] for pk in card_ids if pk in cards]
    taken = set(Node.objects.filter(community=community).values_list("key", flat=True))
    keys: dict[int, str] = {}
    for card in ordered:
        keys[card.pk] = node_key(card.title, taken)
        taken.add(keys[card.pk])
    built = dict(
        Proposal.objects.filter(community=community, built_node__isnull=False).values_list(
            "pk", "built_node__key"
        )
    )
    plan = Plan()
    for card in ordered:
        plan.cards.append((card.pk, card.title))
        prerequisites, sources = [], []
        for position, item in enumerate(card.prerequisites):
            resolved = _resolve(item, keys, built)
            if resolved is None:
                where = f"{_label(card.pk, card.title)}.prerequisites[{position}]"
                plan.problems.setdefault(where, []).append(
                    f"{item!r} is no card of this build and no built card"
                )
            else:
                prerequisites.append(resolved)
                sources.append(position)
        plan.nodes.append(_raw_node(card, keys[card.pk], prerequisites))
        plan.sources.append(sources)
    return plan


def _resolve(item: Any, keys: Mapping[int, str], built: Mapping[int, str]) -> Any | None:
    match = CARD_REFERENCE.match(item) if isinstance(item, str) else None
    if match is None:
        return item
    card = int(match.group(1))
    return keys.get(card) or built.get(card)


def _raw_node(card: Proposal, key: str, prerequisites: list[Any]) -> dict[str, Any]:
    node: dict[str, Any] = {
        "key": key,
        "name": card.title,
        "description": card.summary,
        "tier": card.tier,
        "size": Size.MEDIUM.value,
        "prerequisites": prerequisites,
    }
    if card.cost is not None:
        node["cost"] = card.cost
    return node


def _label(card_id: int, title: str) -> str:
    return f"card {card_id} ({title[:40]!r})"


class BuildRefused(Exception):
    """The cards cannot become nodes as they are: every problem, located by its card. The job
    fails with this (its error lists them); nothing was written."""

    def __init__(self, problems: Mapping[str, list[str]]) -> None:
        self.problems = dict(problems)
        count = sum(len(messages) for messages in self.problems.values())
        listed = "; ".join(
            f"{where}: {message}"
            for where, messages in self.problems.items()
            for message in messages
        )
        super().__init__(f"{count} problem(s), nothing was written: {listed}")


_ADDED = re.compile(r"^added\[(\d+)\](?: \(key '[^']*'\))?")
_PREREQUISITE = re.compile(r"^\.prerequisites\[(\d+)\]")


def check_plan(community: Community, plan: Plan) -> list[NodeSpec]:
    """The plan's nodes, validated with the tree by load_tree's rules; else BuildRefused
    naming every problem with the card it came from."""
    problems = {where: list(messages) for where, messages in plan.problems.items()}
    specs: list[NodeSpec] = []
    try:
        specs = validate_additions(community, plan.nodes)
    except InvalidInput as error:
        for where, messages in (error.fields or {}).items():
            problems.setdefault(_card_location(where, plan), []).extend(messages)
    if problems:
        raise BuildRefused(problems)
    return specs


def _card_location(where: str, plan: Plan) -> str:
    match = _ADDED.match(where)
    if match is None:
        return f"tree: {where}"  # a problem of the existing tree (it was valid when loaded)
    index = int(match.group(1))
    card, title = plan.cards[index]
    rest = where[match.end() :]
    prerequisite = _PREREQUISITE.match(rest)
    if prerequisite is not None:  # the place in the card's own list
        source = plan.sources[index][int(prerequisite.group(1))]
        rest = f".prerequisites[{source}]{rest[prerequisite.end() :]}"
    return _label(card, title) + rest
