"""Voting on the next target: one session at a time, one vote per viewer per session.

A vote takes a share lock on its session row, and resolution takes an exclusive one, so no vote
can slip in after the count; the unique (session, voter) row makes a viewer's second vote (even
twenty at once) a 409 rather than a second count.
"""

from __future__ import annotations

import logging
import random
from datetime import datetime, timedelta

from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.utils import timezone

import realtime
from communities.errors import Conflict, InvalidInput
from communities.models import Community
from progression import events, tasks_on_commit
from progression.models import (
    Node,
    ProgressionSettings,
    UnlockProgress,
    Vote,
    VoteOption,
    VoteSession,
)
from progression.selectors import open_votes
from progression.services.state import lock_active_progress, settings_for
from progression.tree_state import available_options

logger = logging.getLogger(__name__)


def open_session(community_id: int, *, lock: bool = False) -> VoteSession | None:
    sessions = open_votes(community_id)
    if lock:
        sessions = sessions.select_for_update()
    return sessions.first()


def start_vote_for_next(
    community: Community, season_id: int, options: list[tuple[Node, int]], *, targetless: bool
) -> VoteSession:
    knobs = settings_for(community.pk)
    picked = random.sample(options, min(knobs.vote_options, len(options)))  # noqa: S311
    picked.sort(key=lambda option: (option[0].tier, option[0].key))
    now = timezone.now()
    session = VoteSession.objects.create(
        community=community,
        season_id=season_id,
        started_at=now,
        deadline=_deadline(now, knobs, targetless=targetless),
    )
    VoteOption.objects.bulk_create(
        [
            VoteOption(session=session, node=node, level=level, position=i + 1)
            for i, (node, level) in enumerate(picked)
        ]
    )
    realtime.publish(community, events.TOPIC, events.VOTE_STARTED, events.vote_payload(session))
    logger.info(
        "vote started community=%s session=%s options=%d", community.pk, session.pk, len(picked)
    )
    return session


def _deadline(
    started: datetime, knobs: ProgressionSettings, *, targetless: bool
) -> datetime | None:
    """No vote resolves by its deadline before it has run for the window. A vote that decides
    a missing target runs for the window (or the community's duration, if longer); a vote for
    what comes next has a deadline only if the community set a duration."""
    window = knobs.vote_window_seconds
    duration = knobs.vote_duration_seconds
    if targetless:
        return started + timedelta(seconds=max(window, duration or 0))
    return started + timedelta(seconds=max(window, duration)) if duration else None


def window_end(session: VoteSession) -> datetime:
    """When the vote has run for its community's minimum window."""
    return session.started_at + timedelta(
        seconds=settings_for(session.community_id).vote_window_seconds
    )


def has_run_its_window(session: VoteSession) -> bool:
    return window_end(session) <= timezone.now()


def wait_for_window(community: Community, session: VoteSession) -> None:
    """The target filled while the vote for its successor is younger than the window: the vote
    stays open until the window ends and then resolves (beat's resolve_due_votes), its winner
    becoming the target with every point banked meanwhile. The caller holds the session lock."""
    end = window_end(session)
    if session.status == VoteSession.Status.FROZEN:  # resumes with at most the window's rest
        rest = max(0.0, (end - timezone.now()).total_seconds())
        if session.frozen_remaining_seconds is None or session.frozen_remaining_seconds > rest:
            session.frozen_remaining_seconds = rest
            session.save(update_fields=["frozen_remaining_seconds"])
    elif session.deadline is None or session.deadline > end:
        session.deadline = end
        session.save(update_fields=["deadline"])
    logger.info(
        "target waits for the vote community=%s session=%s until=%s",
        community.pk,
        session.pk,
        session.deadline,
    )


def resolve_session(
    community: Community, session: VoteSession, *, resolved_by: str
) -> VoteOption | None:
    """Most votes wins; a tie goes to the option that reached the top count first; no votes at
    all picks at random. The caller holds the session's row lock."""
    options = list(session.options.select_related("node").order_by("position"))
    if not options:
        cancel_vote(community, session)
        return None
    top = max(option.votes for option in options)
    leaders = [option for option in options if option.votes == top]
    if top == 0:
        winner, resolution = random.choice(options), VoteSession.Resolution.RANDOM  # noqa: S311
    elif len(leaders) > 1:
        winner = min(leaders, key=lambda o: (o.last_vote_at, o.position))
        resolution = VoteSession.Resolution.TIE
    else:
        winner, resolution = leaders[0], VoteSession.Resolution.VOTES
    session.status = VoteSession.Status.RESOLVED
    session.resolved_at = timezone.now()
    session.resolution = resolution
    session.resolved_by = resolved_by
    session.winner = winner
    session.save(update_fields=["status", "resolved_at", "resolution", "resolved_by", "winner"])
    payload = events.vote_payload(session)
    payload.update(
        winner=events.node_ref(winner.node, winner.level),
        resolution=resolution,
        resolved_by=resolved_by,
    )
    realtime.publish(community, events.TOPIC, events.VOTE_RESOLVED, payload)
    logger.info(
        "vote resolved community=%s session=%s winner=%s by=%s (%s)",
        community.pk,
        session.pk,
        winner.node.key,
        resolved_by,
        resolution,
    )
    return winner


def cancel_vote(community: Community, session: VoteSession) -> None:
    """Ends an open vote with no winner (its options became impossible, a new season began) and
    tells the clients, so no one keeps showing a ballot that can no longer count. The caller
    holds the session's row lock."""
    session.status = VoteSession.Status.CANCELLED
    session.resolved_at = timezone.now()
    session.save(update_fields=["status", "resolved_at"])
    realtime.publish(community, events.TOPIC, events.VOTE_CANCELLED, events.vote_payload(session))
    logger.info("vote cancelled community=%s session=%s", community.pk, session.pk)


def remove_impossible_options(community: Community, season_id: int) -> VoteSession | None:
    """After the tree changed by hand (a forced unlock, a relock, a tree load), takes off the
    open vote every option that can no longer be chosen, so it can never win. The other options
    keep their votes and the deadline stays; ballots for a removed option are deleted, so those
    viewers may vote again. A vote left with fewer than two options is cancelled: there is no
    choice left to make. Returns the vote if it is still open.

    Positions are not renumbered: a vote in flight for "3" still means the same node."""
    session = open_session(community.pk, lock=True)
    if session is None:
        return None
    possible = set(available_options(community.pk, season_id, exclude=set()))
    options = list(session.options.select_related("node").order_by("position"))
    gone = [o for o in options if (o.node, o.level) not in possible]
    if not gone:
        return session
    if len(options) - len(gone) < 2:
        cancel_vote(community, session)
        return None
    VoteOption.objects.filter(pk__in=[o.pk for o in gone]).delete()  # and their ballots
    payload = events.vote_payload(session)
    payload["removed"] = [events.node_ref(o.node, o.level) for o in gone]
    realtime.publish(community, events.TOPIC, events.VOTE_UPDATED, payload)
    logger.info(
        "vote options removed community=%s session=%s removed=%s",
        community.pk,
        session.pk,
        [o.node.key for o in gone],
    )
    return session


def open_vote_for_following(community: Community, progress: UnlockProgress) -> None:
    """With a target filling and no vote open, opens the vote on what follows it, if there is
    a choice to make (a vote was cancelled by an admin change or a tree load)."""
    target = progress.node
    if target is None or open_session(community.pk) is not None:
        return
    following = available_options(community.pk, progress.season_id, exclude={target.key})
    if len(following) > 1:
        start_vote_for_next(community, progress.season_id, following, targetless=False)


def apply_winner(community: Community, winner: VoteOption) -> None:
    """A vote resolved while the target still fills: the winner is up next (or the target, if
    there is none)."""
    from progression.services.unlocks import set_target

    progress = lock_active_progress(community.pk)
    if progress is None:
        return
    if progress.node_id is None:
        set_target(
            community, progress, winner.node, winner.level, auto_selected=False, source="vote"
        )
        return
    progress.up_next_node = winner.node
    progress.up_next_level = winner.level
    progress.save(update_fields=["up_next_node", "up_next_level"])
    tasks_on_commit.progress_changed(community.pk)


def cast_vote(community: Community, *, voter: str, option: int | str) -> VoteOption:
    with transaction.atomic(durable=True):
        session = _session_for_vote(community)
        choice = _find_option(session, option)
        try:
            with transaction.atomic():
                Vote.objects.create(session=session, option=choice, voter=voter)
        except IntegrityError:
            raise Conflict(
                "You already voted in this session.", fields={"reason": ["already_voted"]}
            ) from None
        VoteOption.objects.filter(pk=choice.pk).update(
            votes=F("votes") + 1, last_vote_at=timezone.now()
        )
        tasks_on_commit.votes_changed(community.pk)
    choice.refresh_from_db()
    return choice


def _session_for_vote(community: Community) -> VoteSession:
    session = open_session(community.pk)
    if session is None:
        raise Conflict("No vote is open.", fields={"reason": ["no_open_vote"]})
    if (
        connection.vendor == "postgresql"
    ):  # share lock: votes run side by side, never past a resolution
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT status FROM progression_votesession WHERE id = %s FOR SHARE", [session.pk]
            )
            (status,) = cursor.fetchone()
        session.status = status
    if session.status == VoteSession.Status.FROZEN:
        raise Conflict("The vote is frozen by a moderator.", fields={"reason": ["frozen"]})
    if session.status != VoteSession.Status.OPEN or (
        session.deadline is not None and session.deadline <= timezone.now()
    ):
        raise Conflict("The vote is closed.", fields={"reason": ["closed"]})
    return session


def _find_option(session: VoteSession, option: int | str) -> VoteOption:
    options = session.options.select_related("node")
    found = (
        options.filter(position=option).first()
        if isinstance(option, int)
        else options.filter(node__key=option).first()
    )
    if found is None:
        raise InvalidInput(
            "Unknown option for this vote.", fields={"option": [f"no option {option!r}"]}
        )
    return found


def start_vote(community: Community) -> VoteSession:
    """A moderator opens a vote for what comes after the current target."""
    with transaction.atomic(durable=True):
        progress = lock_active_progress(community.pk)
        if progress is None:
            raise Conflict("The community has no active progress yet.")
        if open_session(community.pk) is not None:
            raise Conflict("A vote is already open.", fields={"reason": ["vote_open"]})
        exclude = {progress.node.key} if progress.node else set()
        options = available_options(community.pk, progress.season_id, exclude=exclude)
        if len(options) < 2:
            raise Conflict(
                "Fewer than two candidates: nothing to vote on.",
                fields={"reason": ["too_few_options"]},
            )
        return start_vote_for_next(
            community, progress.season_id, options, targetless=progress.node_id is None
        )


def close_vote(community: Community, *, resolved_by: str = "moderator") -> VoteOption | None:
    with transaction.atomic(durable=True):
        lock_active_progress(community.pk)  # lock order: progress, stream, session
        session = open_session(community.pk, lock=True)
        if session is None:
            raise Conflict("No vote is open.", fields={"reason": ["no_open_vote"]})
        winner = resolve_session(community, session, resolved_by=resolved_by)
        if winner is not None:
            apply_winner(community, winner)
        return winner


def choose_first_target(community: Community) -> VoteOption | None:
    """A community that opens without a target (the demo, right after its tree is loaded)
    starts with one: its open vote resolves now (no votes yet: a random option, recorded as
    such, `resolved_by` "setup"), and the vote for what comes next opens. Nothing happens if
    the progress already has a target or no vote is open."""
    from progression.services.unlocks import ensure_target

    ensure_target(community.pk)  # the season and its first vote, if the tree load has not yet
    with transaction.atomic(durable=True):
        progress = lock_active_progress(community.pk)  # lock order: progress, stream, session
        session = open_session(community.pk, lock=True)
        if progress is None or progress.node_id is not None or session is None:
            return None
        winner = resolve_session(community, session, resolved_by="setup")
        if winner is not None:
            apply_winner(community, winner)
        return winner


def freeze_vote(community: Community) -> VoteSession:
    with transaction.atomic(durable=True):
        lock_active_progress(community.pk)  # lock order: progress, stream, session
        session = open_session(community.pk, lock=True)
        if session is None or session.status != VoteSession.Status.OPEN:
            raise Conflict("No open vote to freeze.", fields={"reason": ["not_open"]})
        session.status = VoteSession.Status.FROZEN
        if session.deadline is not None:
            session.frozen_remaining_seconds = max(
                0.0, (session.deadline - timezone.now()).total_seconds()
            )
            session.deadline = None
        session.save(update_fields=["status", "deadline", "frozen_remaining_seconds"])
        realtime.publish(community, events.TOPIC, events.VOTE_FROZEN, events.vote_payload(session))
        return session


def unfreeze_vote(community: Community) -> VoteSession:
    with transaction.atomic(durable=True):
        lock_active_progress(community.pk)  # lock order: progress, stream, session
        session = open_session(community.pk, lock=True)
        if session is None or session.status != VoteSession.Status.FROZEN:
            raise Conflict("No frozen vote.", fields={"reason": ["not_frozen"]})
        session.status = VoteSession.Status.OPEN
        if session.frozen_remaining_seconds is not None:
            session.deadline = timezone.now() + timedelta(seconds=session.frozen_remaining_seconds)
            session.frozen_remaining_seconds = None
        session.save(update_fields=["status", "deadline", "frozen_remaining_seconds"])
        realtime.publish(
            community, events.TOPIC, events.VOTE_UNFROZEN, events.vote_payload(session)
        )
        return session


def resolve_due_votes() -> int:
    """Resolves every open vote past its deadline (run by beat every few seconds)."""
    due = VoteSession.objects.filter(status=VoteSession.Status.OPEN, deadline__lte=timezone.now())
    resolved = 0
    for community_id in due.values_list("community_id", flat=True).distinct():
        with transaction.atomic():
            lock_active_progress(community_id)  # lock order: progress, stream, session
            session = open_session(community_id, lock=True)
            if session is None or session.status != VoteSession.Status.OPEN:
                continue
            if session.deadline is None or session.deadline > timezone.now():
                continue
            if not has_run_its_window(session):  # the window was lengthened since it started
                continue
            community = Community.objects.get(pk=community_id)
            winner = resolve_session(community, session, resolved_by="deadline")
            if winner is not None:
                apply_winner(community, winner)
            resolved += 1
    return resolved


def publish_vote_snapshot(community_id: int) -> None:
    """The coalesced vote event (current counts), read under the stream lock so it never
    describes a vote that an earlier event already resolved or replaced."""

    def read() -> tuple[dict, str] | None:
        session = open_session(community_id)
        if session is None:
            return None
        return events.vote_payload(session), f"vote:{session.pk}"

    community = Community.objects.get(pk=community_id)
    realtime.publish_snapshot(community, events.TOPIC, events.VOTE_CAST, read)
