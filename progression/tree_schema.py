"""The tree file format and its validation.

A tree file (YAML or JSON) holds `nodes:`, a list of nodes::

    nodes:
      - key: neon_overlay            # ^[a-z][a-z0-9_]*$, unique in the file
        name: Neon Overlay
        description: ...             # optional
        category: overlays           # optional
        tier: 1                      # >= 0
        size: medium                 # small | medium | large
        max_level: 1                 # 1-100, default 1
        cost: 300                    # optional; default round(base x 1.5^tier)
        prerequisites:               # all required; a plain key means level 1
          - overlay_basics
          - {key: emote_slots, level: 2}
        count_rules:                 # nodes_unlocked_below_tier:T:N, total_nodes_unlocked:N
          - total_nodes_unlocked:4
        auto_unlock: false
        effects:                     # free-form for bots; each needs a string `type`
          - {type: overlay_theme, value: neon}
          - {type: contribution_multiplier, value: 0.1}   # +10% per unlocked level

The whole file is checked before anything is written, and every problem is reported with its
location: `InvalidInput.fields` maps a location (`nodes[3].prerequisites[1]`,
`nodes[7] (key 'x')`) to its messages, so the API can return the same answer.
"""

from __future__ import annotations

import json
import math
import re
from collections import defaultdict, deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    JsonValue,
    StringConstraints,
    ValidationError,
    model_validator,
)
from pydantic_core import PydanticCustomError

from communities.errors import InvalidInput
from progression.models import KEY_PATTERN, default_cost
from progression.rules import CONTRIBUTION_MULTIPLIER, CountRule, parse_count_rule

MAX_LEVEL = 100
MAX_COST = 2_147_483_647  # what the cost columns hold
MAX_TIER = 32_767

Key = Annotated[str, StringConstraints(pattern=KEY_PATTERN, max_length=64)]
Level = Annotated[int, Field(ge=1, le=MAX_LEVEL)]


def _count_rule(text: str) -> str:
    try:
        rule = parse_count_rule(text)
    except ValueError as error:
        raise PydanticCustomError("count_rule", str(error)) from None
    if rule.count < 1:
        raise PydanticCustomError(
            "count_rule",
            "count rule {rule!r} is always met: the count must be at least 1",
            {"rule": text},
        )
    return str(rule)


def _effect(effect: dict[str, JsonValue]) -> dict[str, JsonValue]:
    kind = effect.get("type")
    if not isinstance(kind, str) or not kind.strip():
        raise PydanticCustomError("effect_type", "an effect needs a non-empty string `type`")
    if kind == CONTRIBUTION_MULTIPLIER:
        value = effect.get("value")
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise PydanticCustomError(
                "effect_value", "contribution_multiplier needs a numeric `value`"
            )
        if not math.isfinite(value) or value <= 0:
            raise PydanticCustomError(
                "effect_value", "contribution_multiplier `value` must be above 0"
            )
    return effect


def _prerequisite_shorthand(value: Any) -> Any:
    return {"key": value} if isinstance(value, str) else value


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class PrerequisiteSpec(_Strict):
    key: Key
    level: Level = 1


class NodeSpec(_Strict):
    key: Key
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=120)]
    description: str = ""
    category: Annotated[str, StringConstraints(strip_whitespace=True, max_length=60)] = ""
    tier: Annotated[int, Field(ge=0, le=MAX_TIER)]
    size: Literal["small", "medium", "large"]
    max_level: Level = 1
    cost: Annotated[int, Field(ge=0, le=MAX_COST)] | None = None
    prerequisites: list[Annotated[PrerequisiteSpec, BeforeValidator(_prerequisite_shorthand)]] = []
    count_rules: list[Annotated[str, AfterValidator(_count_rule)]] = []
    auto_unlock: bool = False
    effects: list[Annotated[dict[str, JsonValue], AfterValidator(_effect)]] = []

    @model_validator(mode="after")
    def _default_cost_fits(self) -> NodeSpec:
        if self.cost is None and self.effective_cost > MAX_COST:
            raise PydanticCustomError(
                "cost_too_large",
                "the default cost of a {size} node at tier {tier} is too large; give `cost`",
                {"size": self.size, "tier": self.tier},
            )
        return self

    @property
    def effective_cost(self) -> int:
        if self.cost is not None:
            return self.cost
        try:
            return default_cost(self.size, self.tier)
        except OverflowError:
            return MAX_COST + 1


class TreeSpec(_Strict):
    nodes: list[NodeSpec]


@dataclass
class Problems:
    """Messages by location, in the order of the file."""

    by_location: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))

    def add(self, location: str, message: str) -> None:
        self.by_location[location].append(message)

    def raise_if_any(self, what: str = "The tree") -> None:
        if not self.by_location:
            return
        count = sum(len(messages) for messages in self.by_location.values())
        ordered = dict(sorted(self.by_location.items(), key=lambda item: _natural(item[0])))
        raise InvalidInput(f"{what} has {count} problem(s); nothing was written.", fields=ordered)


def _natural(location: str) -> list[Any]:
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", location)]


def validate_tree(data: Any) -> TreeSpec:
    """The tree in `data` (parsed YAML/JSON), or InvalidInput listing every problem."""
    problems = Problems()
    spec = None
    try:
        spec = TreeSpec.model_validate(data)
    except ValidationError as error:
        for location, message in _shape_problems(error, data):
            problems.add(location, message)
    for location, message in _cross_node_problems(_outlines(data)):
        problems.add(location, message)
    problems.raise_if_any()
    assert spec is not None  # no problems means the shape validated
    return spec


# Shape problems (pydantic) -------------------------------------------------------------------


def _shape_problems(error: ValidationError, data: Any) -> Iterable[tuple[str, str]]:
    for item in error.errors(include_url=False):
        loc = tuple(item["loc"])
        if item["type"] == "extra_forbidden":
            yield _location(loc[:-1], data), f"unknown field '{loc[-1]}'"
        elif item["type"] == "missing":
            yield _location(loc[:-1], data), f"missing required field '{loc[-1]}'"
        else:
            yield _location(loc, data), _message(item)


def _message(item: Mapping[str, Any]) -> str:
    if item["type"] in {"model_type", "dict_type", "model_attributes_type"}:
        message = "should be a mapping"
    else:
        message = str(item["msg"])
    value = item.get("input")
    shown = isinstance(value, str | int | float | bool) or value is None
    return f"{message} (got {value!r})" if shown and repr(value) not in message else message


def _location(loc: tuple[Any, ...], data: Any) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    if len(loc) == 2 and loc[0] == "nodes" and isinstance(loc[1], int):
        return _node_label(loc[1], data)
    return text or "(file)"


def _node_label(index: int, data: Any) -> str:
    raw = _raw_nodes(data)
    key = raw[index].get("key") if index < len(raw) and isinstance(raw[index], dict) else None
    return f"nodes[{index}] (key '{key}')" if isinstance(key, str) else f"nodes[{index}]"


# Cross-node problems, on a lenient outline so one bad field does not hide the rest ----------


@dataclass(frozen=True)
class _Outline:
    index: int
    key: str | None
    tier: int | None
    max_level: int | None
    prerequisites: tuple[tuple[int, str, int | None], ...]  # (position, key, level)
    count_rules: tuple[tuple[int, CountRule], ...]

    @property
    def label(self) -> str:
        return f"nodes[{self.index}] (key '{self.key}')" if self.key else f"nodes[{self.index}]"


def _raw_nodes(data: Any) -> list[Any]:
    nodes = data.get("nodes") if isinstance(data, dict) else None
    return nodes if isinstance(nodes, list) else []


def _int(value: Any, low: int, high: int) -> int | None:
    ok = isinstance(value, int) and not isinstance(value, bool) and low <= value <= high
    return value if ok else None


def _outlines(data: Any) -> list[_Outline]:
    return [
        _outline(index, raw) for index, raw in enumerate(_raw_nodes(data)) if isinstance(raw, dict)
    ]


def _outline(index: int, raw: dict[str, Any]) -> _Outline:
    key = raw.get("key")
    return _Outline(
        index=index,
        key=key if isinstance(key, str) and re.match(KEY_PATTERN, key) else None,
        tier=_int(raw.get("tier"), 0, MAX_TIER),
        max_level=_int(raw.get("max_level", 1), 1, MAX_LEVEL),
        prerequisites=tuple(_raw_prerequisites(raw.get("prerequisites"))),
        count_rules=tuple(_raw_count_rules(raw.get("count_rules"))),
    )


def _raw_prerequisites(items: Any) -> Iterable[tuple[int, str, int | None]]:
    for position, item in enumerate(items if isinstance(items, list) else []):
        item = _prerequisite_shorthand(item)
        key = item.get("key") if isinstance(item, dict) else None
        if isinstance(key, str) and re.match(KEY_PATTERN, key):
            yield position, item["key"], _int(item.get("level", 1), 1, MAX_LEVEL)


def _raw_count_rules(items: Any) -> Iterable[tuple[int, CountRule]]:
    for position, item in enumerate(items if isinstance(items, list) else []):
        try:
            yield position, parse_count_rule(item)
        except (TypeError, ValueError):
            continue  # reported by the shape check


def _cross_node_problems(outlines: list[_Outline]) -> Iterable[tuple[str, str]]:
    by_key: dict[str, _Outline] = {}
    for outline in outlines:
        if outline.key is None:
            continue
        if outline.key in by_key:
            first = by_key[outline.key]
            yield outline.label, f"duplicate key '{outline.key}' (first at nodes[{first.index}])"
        else:
            by_key[outline.key] = outline
    for outline in outlines:
        yield from _prerequisite_problems(outline, by_key)
        yield from _count_rule_problems(outline, outlines)
    yield from _cycle_problems(by_key)


def _prerequisite_problems(
    outline: _Outline, by_key: Mapping[str, _Outline]
) -> Iterable[tuple[str, str]]:
    seen: set[str] = set()
    for position, key, level in outline.prerequisites:
        location = f"nodes[{outline.index}].prerequisites[{position}]"
        required = by_key.get(key)
        if key == outline.key:
            yield location, f"node '{key}' cannot require itself"
        elif key in seen:
            yield location, f"'{key}' is listed twice"
        elif required is None:
            yield location, f"unknown node '{key}'"
        elif level is not None and required.max_level is not None and level > required.max_level:
            yield (
                location,
                f"requires '{key}' at level {level} but '{key}' has max_level {required.max_level}",
            )
        seen.add(key)


def _count_rule_problems(outline: _Outline, outlines: list[_Outline]) -> Iterable[tuple[str, str]]:
    others = [other for other in outlines if other.index != outline.index]
    for position, rule in outline.count_rules:
        candidates = others
        if rule.below_tier is not None:
            candidates = [o for o in others if o.tier is not None and o.tier < rule.below_tier]
        if rule.count > len(candidates):
            yield (
                f"nodes[{outline.index}].count_rules[{position}]",
                f"'{rule}' can never be met: only {len(candidates)} other node(s) qualify",
            )


def _cycle_problems(by_key: Mapping[str, _Outline]) -> Iterable[tuple[str, str]]:
    graph = {
        key: [req for _, req, _ in outline.prerequisites if req in by_key and req != key]
        for key, outline in by_key.items()
    }
    for component in _strongly_connected(graph):
        if len(component) > 1:
            start = min(component, key=lambda key: by_key[key].index)
            path = _cycle_through(start, component, graph)
            message = f"prerequisite cycle: {' -> '.join(path)}"
            if others := sorted(component - set(path), key=lambda key: by_key[key].index):
                message += f" (also in the loop: {', '.join(others)})"
            yield by_key[start].label, message


def _strongly_connected(graph: Mapping[str, list[str]]) -> list[set[str]]:
    """Tarjan's algorithm, iterative so deep trees cannot exhaust the stack."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[set[str]] = []
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(graph[root]))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, edges = work[-1]
            nxt = next(edges, None)
            if nxt is None:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = set()
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.add(member)
                        if member == node:
                            break
                    components.append(component)
            elif nxt not in index:
                index[nxt] = low[nxt] = len(index)
                stack.append(nxt)
                on_stack.add(nxt)
                work.append((nxt, iter(graph[nxt])))
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
    return components


def _cycle_through(start: str, component: set[str], graph: Mapping[str, list[str]]) -> list[str]:
    """The shortest path start -> ... -> start inside one strongly connected component."""
    previous: dict[str, str] = {}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        for nxt in graph[node]:
            if nxt == start:
                path = [node]
                while path[-1] != start:
                    path.append(previous[path[-1]])
                return [*reversed(path), start]
            if nxt in component and nxt not in previous:
                previous[nxt] = node
                queue.append(nxt)
    return [start, start]  # unreachable for a real component


# Files ---------------------------------------------------------------------------------------


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that refuses a field given twice in one mapping instead of keeping the last."""


def _construct_unique_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode) -> dict:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        if key_node.tag == "tag:yaml.org,2002:merge":
            continue
        key = loader.construct_object(key_node, deep=True)
        if not isinstance(key, str | int | float | bool):
            continue
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate field {key!r}", key_node.start_mark
            )
        seen.add(key)
    return loader.construct_mapping(node, deep=True)


_UniqueKeyLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_unique_mapping
)


def _unique_json_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"duplicate field {key!r}")
        result[key] = value
    return result


def parse_tree_text(text: str, *, fmt: Literal["yaml", "json"]) -> Any:
    """The parsed document, or InvalidInput locating the syntax error."""
    try:
        if fmt == "json":
            return json.loads(text, object_pairs_hook=_unique_json_object)
        return yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 (a SafeLoader subclass)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "(file)"
        raise InvalidInput(
            "The tree file is not valid YAML.", fields={where: [str(error.problem or error)]}
        ) from None
    except yaml.YAMLError as error:
        raise InvalidInput(
            "The tree file is not valid YAML.", fields={"(file)": [str(error)]}
        ) from None
    except json.JSONDecodeError as error:
        where = f"line {error.lineno}, column {error.colno}"
        raise InvalidInput(
            "The tree file is not valid JSON.", fields={where: [error.msg]}
        ) from None
    except ValueError as error:
        raise InvalidInput(
            "The tree file is not valid JSON.", fields={"(file)": [str(error)]}
        ) from None


def read_tree_file(path: str | Path) -> TreeSpec:
    """Reads and validates a `.yaml`/`.yml` or `.json` tree file."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in {".yaml", ".yml", ".json"}:
        raise InvalidInput(
            "Unknown tree file type.",
            fields={"(file)": [f"{path.name}: expected .yaml, .yml or .json"]},
        )
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise InvalidInput(
            "The tree file cannot be read.", fields={"(file)": [str(error)]}
        ) from None
    return validate_tree(parse_tree_text(text, fmt="json" if suffix == ".json" else "yaml"))
