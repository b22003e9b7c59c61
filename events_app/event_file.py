"""The event file format (`manage.py load_event`) and its validation.

An event file (YAML or JSON)::

    event:
      name: Winter bake-along          # with starts_on: the event's identity (upsert key)
      starts_on: 2026-12-01
      ends_on: 2026-12-24              # >= starts_on
      description: ...                 # optional
      status: planned                  # planned | live | closed | cancelled (default planned)
    items:                             # upserted by name
      - {name: cookies, yield_per_batch: 12, unit: cookie}
    bundles:                           # upserted by name; components replace the bill
      - name: gift box
        components: {cookies: 6, bracelets: 1}   # item name -> quantity (file or community)
    production_targets: {cookies: 4}             # item name -> target batches
    assembly_targets: {gift box: 2}              # bundle name -> target quantity
    deliveries:                                  # optional; matched by recipient + bundle
      - {recipient: Shelter on 5th, bundle: gift box, quantity: 2}

The whole file is checked before anything is written, and every problem is reported with its
location (`bundles[2].components.cookies: unknown item`) in `InvalidInput.fields`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from communities.errors import InvalidInput
from communities.models import Community
from events_app.models import Bundle, Item
from progression.tree_schema import parse_tree_text

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=120)]
Count = Annotated[int, Field(ge=1, le=1_000_000)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class EventSpec(_Strict):
    name: Name
    starts_on: date
    ends_on: date
    description: str = ""
    status: Literal["planned", "live", "closed", "cancelled"] = "planned"


class ItemSpec(_Strict):
    name: Name
    yield_per_batch: Count = 1
    unit: Annotated[str, StringConstraints(max_length=40)] = ""


class BundleSpec(_Strict):
    name: Name
    description: str = ""
    components: dict[Name, Count] = Field(min_length=1)


class DeliverySpec(_Strict):
    recipient: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)
    ]
    bundle: Name
    quantity: Count = 1
    note: Annotated[str, StringConstraints(max_length=500)] = ""


class EventFile(_Strict):
    event: EventSpec
    items: list[ItemSpec] = []
    bundles: list[BundleSpec] = []
    production_targets: dict[Name, Count] = {}
    assembly_targets: dict[Name, Count] = {}
    deliveries: list[DeliverySpec] = []


@dataclass
class _Problems:
    found: dict[str, list[str]]

    def add(self, where: str, message: str) -> None:
        self.found.setdefault(where, []).append(message)


def _location(loc: tuple[Any, ...]) -> str:
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text or "(file)"


def validate_event_file(data: Any, community: Community) -> EventFile:
    """The parsed file, checked in itself and against the community's items and bundles."""
    problems = _Problems({})
    try:
        spec = EventFile.model_validate(data)
    except ValidationError as error:
        for err in error.errors():
            problems.add(_location(err["loc"]), err["msg"])
        raise InvalidInput("The event file has problems.", fields=problems.found) from None
    if spec.event.ends_on < spec.event.starts_on:
        problems.add("event.ends_on", "is before starts_on")
    _check_names(spec, community, problems)
    if problems.found:
        raise InvalidInput("The event file has problems.", fields=problems.found)
    return spec


def _duplicates(names: list[str], where: str, problems: _Problems) -> None:
    seen: set[str] = set()
    for i, name in enumerate(names):
        if name in seen:
            problems.add(f"{where}[{i}].name", f"{name!r} is listed twice")
        seen.add(name)


def _check_names(spec: EventFile, community: Community, problems: _Problems) -> None:
    _duplicates([i.name for i in spec.items], "items", problems)
    _duplicates([b.name for b in spec.bundles], "bundles", problems)
    items = {i.name for i in spec.items} | set(
        Item.objects.filter(community=community).values_list("name", flat=True)
    )
    bundles = {b.name for b in spec.bundles} | set(
        Bundle.objects.filter(community=community).values_list("name", flat=True)
    )
    for i, bundle in enumerate(spec.bundles):
        for item in bundle.components:
            if item not in items:
                problems.add(f"bundles[{i}].components.{item}", "unknown item")
    for item in spec.production_targets:
        if item not in items:
            problems.add(f"production_targets.{item}", "unknown item")
    for name in spec.assembly_targets:
        if name not in bundles:
            problems.add(f"assembly_targets.{name}", "unknown bundle")
    for i, delivery in enumerate(spec.deliveries):
        if delivery.bundle not in bundles:
            problems.add(f"deliveries[{i}].bundle", "unknown bundle")


def read_event_file(path: str | Path, community: Community) -> EventFile:
    """Reads and validates a `.yaml`/`.yml` or `.json` event file."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in {".yaml", ".yml", ".json"}:
        raise InvalidInput(
            "Unknown event file type.",
            fields={"(file)": [f"{path.name}: expected .yaml, .yml or .json"]},
        )
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise InvalidInput(
            "The event file cannot be read.", fields={"(file)": [str(error)]}
        ) from None
    try:
        data = parse_tree_text(text, fmt="json" if suffix == ".json" else "yaml")
    except InvalidInput as error:
        raise InvalidInput(
            error.message.replace("tree file", "event file"), fields=error.fields
        ) from None
    return validate_event_file(data, community)
