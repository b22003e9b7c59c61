"""The OBS overlay's options, read from its URL's query parameters and validated.

An overlay URL is pasted into OBS by hand and edited there; a typo must not break the stream,
so an unusable value falls back to its default (and is listed in `ignored`, which the page
shows in a comment for whoever debugs it). Colours are the only free-form values that reach
CSS: they pass only as `#rgb`, `#rrggbb`, `#rrggbbaa`, `rgb()`/`rgba()` with numbers, or a
plain colour name; nothing else is ever written into a style attribute.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

WIDGETS = ("bar", "vote", "alerts")
POSITIONS = ("top-left", "top", "top-right", "bottom-left", "bottom", "bottom-right")
COLOUR_NAMES = frozenset(
    "black white red green blue yellow orange purple pink cyan magenta gold silver gray grey "
    "lime teal navy maroon olive aqua fuchsia transparent".split()
)
_HEX = re.compile(r"#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{4}|[0-9a-fA-F]{6}|[0-9a-fA-F]{8})")
_NUM = r"\s*(?:\d{1,3}(?:\.\d+)?%?)\s*"
_RGB = re.compile(rf"rgba?\({_NUM},{_NUM},{_NUM}(?:,\s*(?:0|1|0?\.\d+|\d{{1,3}}%)\s*)?\)")
# Custom properties of the overlay's stylesheet (static/css/overlay.css) per colour option.
COLOURS = {"accent": "--ov-accent", "text": "--ov-text", "panel": "--ov-panel"}
MIN_SCALE, MAX_SCALE = 0.5, 3.0
MIN_ALERT, MAX_ALERT, DEFAULT_ALERT = 1.0, 30.0, 5.0


@dataclass(frozen=True)
class OverlayOptions:
    widgets: tuple[str, ...] = WIDGETS
    position: str = "bottom"
    scale: float = 1.0
    alert_seconds: float = DEFAULT_ALERT
    colours: dict[str, str] = field(default_factory=dict)  # CSS custom property -> value
    ignored: tuple[str, ...] = ()

    @property
    def style(self) -> str:
        """The inline style of the overlay's root: validated values only."""
        parts = [f"--ov-scale: {self.scale:g}"]
        parts += [f"{prop}: {value}" for prop, value in self.colours.items()]
        return "; ".join(parts)


def is_safe_colour(value: str) -> bool:
    value = value.strip()
    return bool(_HEX.fullmatch(value) or _RGB.fullmatch(value) or value.lower() in COLOUR_NAMES)


def _number(raw: str | None, low: float, high: float) -> float | None:
    try:
        value = float(raw) if raw is not None else None
    except ValueError:
        return None
    return value if value is not None and low <= value <= high else None


def parse_overlay_options(query: Mapping[str, str]) -> OverlayOptions:
    ignored: list[str] = []
    widgets: tuple[str, ...] = WIDGETS
    if "widgets" in query:
        asked = [w.strip() for w in query["widgets"].split(",") if w.strip()]
        chosen = tuple(w for w in WIDGETS if w in asked)
        if chosen and len(chosen) == len(set(asked)):
            widgets = chosen
        else:
            ignored.append("widgets")
    position = query.get("position", "bottom")
    if position not in POSITIONS:
        ignored.append("position")
        position = "bottom"
    scale = _number(query.get("scale", "1"), MIN_SCALE, MAX_SCALE)
    if scale is None:
        ignored.append("scale")
    alert = _number(query.get("alert_seconds", str(DEFAULT_ALERT)), MIN_ALERT, MAX_ALERT)
    if alert is None:
        ignored.append("alert_seconds")
    colours = {}
    for name, prop in COLOURS.items():
        raw = query.get(name)
        if raw is None:
            continue
        if is_safe_colour(raw):
            colours[prop] = raw.strip()
        else:
            ignored.append(name)
    return OverlayOptions(
        widgets=widgets,
        position=position,
        scale=scale if scale is not None else 1.0,
        alert_seconds=alert if alert is not None else DEFAULT_ALERT,
        colours=colours,
        ignored=tuple(ignored),
    )
