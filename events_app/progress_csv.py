"""An event's progress as CSV, for spreadsheets: one table, the same eight columns on every row.

Rows: one per production target, one per assembly target (done = batches produced / bundles
assembled), then one summary row per kind and one for the event (target = number of targets,
done = how many are complete), one row per delivery status (done = deliveries in it) and one
per item with its yield still available for assembly (done = available). The figures come from
`events_app/progress.py` through the selector; nothing is recomputed here.

Names are typed by moderators: a cell starting with = + - @ (or a tab or carriage return) would
run as a formula in a spreadsheet, so such cells are prefixed with a quote (OWASP's advice).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable

from events_app.progress import KindSummary
from events_app.selectors import EventWithFigures

COLUMNS = ("kind", "name", "target", "done", "percent", "remaining", "overage", "complete")
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")

Cell = str | int | float | bool | None


def safe_text(value: str) -> str:
    """A text cell a spreadsheet shows as text, never evaluates."""
    return f"'{value}" if value.startswith(_FORMULA_STARTS) else value


def _flag(value: bool) -> str:
    return "yes" if value else "no"


def _summary_row(kind: str, summary: KindSummary) -> list[Cell]:
    return [
        f"{kind}_summary",
        summary.status,
        summary.targets,
        summary.complete,
        summary.percent,
        summary.targets - summary.complete,
        "",
        _flag(summary.status == "complete"),
    ]


def progress_rows(event: EventWithFigures) -> Iterable[list[Cell]]:
    figures = event.figures
    for p in figures.production:
        yield [
            "production",
            safe_text(p.item),
            p.target_batches,
            p.produced_batches,
            p.percent,
            p.remaining,
            p.overage,
            _flag(p.complete),
        ]
    for a in figures.assembly:
        yield [
            "assembly",
            safe_text(a.bundle),
            a.target_quantity,
            a.assembled,
            a.percent,
            a.remaining,
            a.overage,
            _flag(a.complete),
        ]
    yield _summary_row("production", figures.production_summary)
    yield _summary_row("assembly", figures.assembly_summary)
    targets = figures.production_summary.targets + figures.assembly_summary.targets
    done = figures.production_summary.complete + figures.assembly_summary.complete
    yield [
        "event",
        safe_text(event.name),
        targets,
        done,
        "",
        targets - done,
        "",
        _flag(figures.complete),
    ]
    for status, count in figures.deliveries.items():
        yield ["deliveries", status, "", count, "", "", "", ""]
    for item in figures.available:
        yield [
            "available",
            safe_text(item.item),
            item.produced_yield,
            item.available,
            "",
            "",
            "",
            "",
        ]


def render(event: EventWithFigures) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    writer.writerows(progress_rows(event))
    return out.getvalue()


def filename(slug: str, event: EventWithFigures) -> str:
    return f"{slug}-event-{event.id}-progress.csv"
