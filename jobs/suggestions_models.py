"""Viewers' suggestions and the proposals the `generate_proposals` job makes of them.

Imported by `jobs/models.py` (the app's models module), so Django finds them there.

A viewer is one `viewer_key` across both ways of suggesting, the same keys votes use:
`viewer:<platform_user_id>` for a bot relaying a chat command, `user:<id>` for a signed-in
person. A suggestion's `message_id` is unique per community and namespaced by who sent it
(`bot:<id>` for a relay's chat message id, `user:<id>:<id>` for a web post), so a repeat is
answered with the first suggestion and one sender can never collide with another.

Proposals sit on the board of issue 10: `column` then `position` (dense from 0 within a
column, unique per community and column; a card merged into another leaves the board with no
position). The unique constraint is immediate (SQLite cannot defer it): a move shifts the
cards it passes in two UPDATEs under a lock on the column (out to an offset range, then back),
never one `position + 1` that collides with itself midway. `version` grows on every edit; a
move or edit naming an older one is refused with 409.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.db.models.functions import Length
from django.db.models.lookups import GreaterThanOrEqual
from django.utils import timezone

from communities.models import Community

TEXT_MIN, TEXT_MAX = 3, 300


class SuggestionStatus(models.TextChoices):
    PENDING = "pending", "Waiting for a run"
    GROUPED = "grouped", "Went into a proposal"
    DUPLICATE = "duplicate", "Asks for a node the tree has"
    DISMISSED = "dismissed", "Echoed by nobody"


class Column(models.TextChoices):
    NEW = "new", "New"
    SHORTLISTED = "shortlisted", "Shortlisted"
    ACCEPTED = "accepted", "Accepted"
    REJECTED = "rejected", "Rejected"
    BUILT = "built", "Built"


OPEN_COLUMNS = (Column.NEW, Column.SHORTLISTED)


class Suggestion(models.Model):
    Status = SuggestionStatus

    community = models.ForeignKey(Community, on_delete=models.CASCADE, related_name="suggestions")
    text = models.CharField(max_length=TEXT_MAX)
    viewer_key = models.CharField(max_length=120)
    platform_user_id = models.CharField(max_length=100, blank=True, default="")
    display_name = models.CharField(max_length=100, blank=True, default="")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="suggestions",
    )
    message_id = models.CharField(max_length=260)
    status = models.CharField(
        max_length=10, choices=SuggestionStatus.choices, default=SuggestionStatus.PENDING
    )
    # Runs of generate_proposals that found nobody else asking for the same (see the pipeline).
    lonely_runs = models.PositiveSmallIntegerField(default=0)
    proposal = models.ForeignKey(
        "jobs.Proposal",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="suggestions",
    )
    duplicate_of_node = models.ForeignKey(
        "progression.Node",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="duplicate_suggestions",
    )
    job = models.ForeignKey(
        "jobs.Job", null=True, blank=True, on_delete=models.SET_NULL, related_name="suggestions"
    )  # the run that last took it
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        indexes = [
            models.Index(fields=["community", "status", "id"], name="suggestion_community_status"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["community", "message_id"], name="suggestion_message_once"
            ),
            models.CheckConstraint(
                condition=Q(status__in=SuggestionStatus.values), name="suggestion_status_known"
            ),
            models.CheckConstraint(
                condition=GreaterThanOrEqual(Length("text"), TEXT_MIN),
                name="suggestion_text_min_length",
            ),
            models.CheckConstraint(
                condition=Q(status=SuggestionStatus.PENDING, used_at__isnull=True)
                | ~Q(status=SuggestionStatus.PENDING) & Q(used_at__isnull=False),
                name="suggestion_used_iff_not_pending",
            ),
            models.CheckConstraint(
                condition=~Q(status=SuggestionStatus.GROUPED) | Q(proposal__isnull=False),
                name="suggestion_grouped_has_proposal",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.viewer_key}: {self.text[:40]}"


class Proposal(models.Model):
    Column = Column

    community = models.ForeignKey(Community, on_delete=models.CASCADE, related_name="proposals")
    title = models.CharField(max_length=120)
    summary = models.TextField(blank=True, default="")
    supporters = models.PositiveIntegerField(default=0)  # distinct viewers among its suggestions
    suggestion_count = models.PositiveIntegerField(default=0)
    sample_quotes = models.JSONField(default=list, blank=True)
    confidence = models.FloatField(default=0.0)
    source_job = models.ForeignKey(
        "jobs.Job", null=True, blank=True, on_delete=models.SET_NULL, related_name="proposals"
    )
    # Which group of the source job's clustering this is: with source_job, unique, so a stage
    # that runs again never makes the same proposal twice.
    group_key = models.CharField(max_length=64, blank=True, default="")
    merged_into = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="merged"
    )
    column = models.CharField(max_length=12, choices=Column.choices, default=Column.NEW)
    position = models.PositiveIntegerField(null=True, blank=True)  # None: off the board
    version = models.PositiveIntegerField(default=1)
    tier = models.PositiveSmallIntegerField(default=0)
    cost = models.PositiveIntegerField(null=True, blank=True)
    prerequisites = models.JSONField(default=list, blank=True)  # node keys
    built_node = models.ForeignKey(
        "progression.Node",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="built_from",
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["community", "column", "position", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(column__in=Column.values), name="proposal_column_known"
            ),
            models.CheckConstraint(
                condition=Q(position__isnull=True) | Q(position__gte=0),
                name="proposal_position_not_negative",
            ),
            models.CheckConstraint(
                condition=Q(confidence__gte=0.0) & Q(confidence__lte=1.0),
                name="proposal_confidence_range",
            ),
            models.CheckConstraint(condition=Q(version__gte=1), name="proposal_version_positive"),
            models.UniqueConstraint(
                fields=["community", "column", "position"], name="proposal_position_unique"
            ),
            # One card per built node: build_tree marks the card in the transaction that
            # makes its node, so a node is never made twice from one card (issue 10).
            models.UniqueConstraint(
                fields=["built_node"],
                condition=Q(built_node__isnull=False),
                name="proposal_built_once",
            ),
            models.UniqueConstraint(
                fields=["source_job", "group_key"],
                condition=Q(source_job__isnull=False),
                name="proposal_once_per_job_group",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.title} ({self.column})"

    @property
    def is_open(self) -> bool:
        """Still being decided on: new evidence may join it instead of making another card."""
        return self.merged_into_id is None and self.column in OPEN_COLUMNS
