"""The points rules as pure functions: when a target is full, and how its points are split when
it closes. One home for each, so the engagement path, the unlock, the reconcile and the reads
can never disagree.

Terms (see docs/progression.md "Conservation"): T is the season's credited total (the sum of
its shards); a progress holds T - offset; `crossed_at_total` is the season total at which its
target was first seen full: the line the rollover cap is drawn at. Only the overshoot of the
write that filled the target (crossed_at_total - offset - cost) is subject to the cap; every
point credited after that line belongs to the next progress in full.
"""

from __future__ import annotations

from dataclasses import dataclass


def is_full(total: int, offset: int, cost: int | None) -> bool:
    """Whether a progress with this offset and target cost holds its cost at season total
    `total`. A progress without a target (cost None) is never full: it banks points."""
    return cost is not None and total - offset >= cost


@dataclass(frozen=True)
class Split:
    """How a closing progress's points are used: spent + discarded + rolled_over = accumulated."""

    accumulated: int
    spent: int
    discarded: int
    rolled_over: int


def split_on_unlock(
    *, total: int, offset: int, cost: int, crossed_at_total: int | None, cap: int
) -> Split:
    """The split of a full progress unlocked at season total `total`.

    The cap applies to the crossing's overshoot only: with no recorded crossing (nobody saw the
    target full before the unlock did), the unlock's own reading is the line. The line is
    clamped between the cost and `total`, so the books balance whatever was recorded."""
    accumulated = total - offset
    line = total if crossed_at_total is None else crossed_at_total
    overshoot = min(max(line - offset - cost, 0), accumulated - cost)
    discarded = max(0, overshoot - cap)
    return Split(
        accumulated=accumulated,
        spent=cost,
        discarded=discarded,
        rolled_over=accumulated - cost - discarded,
    )


def kept_whole(accumulated: int) -> Split:
    """A progress closed without an unlock of its target (forced, relocked): nothing is spent or
    discarded, every point carries on."""
    return Split(accumulated=accumulated, spent=0, discarded=0, rolled_over=accumulated)


def discarded_whole(accumulated: int) -> Split:
    """A progress closed by a season reset: its points are recorded as discarded."""
    return Split(accumulated=accumulated, spent=0, discarded=accumulated, rolled_over=0)


def next_offset(offset: int, split: Split) -> int:
    """Where the next progress starts: past what this one spent and discarded."""
    return offset + split.spent + split.discarded
