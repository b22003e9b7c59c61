"""Domain errors of jobs. The API edge maps them to statuses (`communities.errors`)."""

from __future__ import annotations

import enum
from typing import Any

from communities.errors import Conflict, InvalidInput, NotFound


class JobNotFound(NotFound):
    """No such job in this community: an id of another community reads the same."""

    def __init__(self) -> None:
        super().__init__("No such job.")


class UnknownKind(InvalidInput):
    def __init__(self, kind: str, known: list[str]) -> None:
        super().__init__(
            f"Unknown job kind {kind!r}.",
            fields={"kind": [f"unknown kind; expected one of: {', '.join(known)}"]},
        )


class JobStateConflict(Conflict):
    """Cancel of a finished job, retry of one that did not fail or was not cancelled."""


class Refusal(enum.StrEnum):
    UNKNOWN_STAGE = "unknown_stage"
    STAGE_BACKWARDS = "stage_backwards"
    STAGE_NOT_CURRENT = "stage_not_current"
    CURRENT_BACKWARDS = "current_backwards"
    OUT_OF_RANGE = "out_of_range"
    TOTAL_CHANGED = "total_changed"
    NOT_RUNNING = "not_running"
    SUPERSEDED = "superseded"
    GONE = "gone"


class ProgressRefused(Conflict):
    """A progress write that would break a rule of the job's state machine. Nothing was
    written; `reason` says which rule (a `Refusal`)."""

    code = "progress_refused"

    def __init__(self, reason: Refusal, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class RunLost(ProgressRefused):
    """This run no longer owns the job (finished, cancelled, failed, or taken over by a newer
    run after the reaper re-queued it): the runner stops without writing anything more."""


class CardNotFound(NotFound):
    """No such card on this community's board: an id of another community reads the same."""

    def __init__(self) -> None:
        super().__init__("No such proposal.")


class StaleCard(Conflict):
    """A move or edit based on a version older than the card's: nothing was written; `card`
    is the card as it is now, so the client can show it and ask again."""

    code = "stale_version"

    def __init__(self, sent: int, card: dict[str, Any]) -> None:
        super().__init__(
            f"The card changed meanwhile (version {card['version']}, you sent {sent}).",
            fields={"version": [f"current version is {card['version']}"]},
        )
        self.card = card


class MoveRefused(Conflict):
    """A move the board's rules forbid (into or out of `built`, a card merged away)."""

    code = "move_refused"
