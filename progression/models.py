"""The progression tree, the points ledger, unlocks and votes.

Points accounting (why there is no single hot counter row): every credited point lands in one
of a few `PointsShard` rows of the season, so concurrent writers rarely touch the same row.
The season's credited total T is the sum of its shards. The active `UnlockProgress` stores
`offset`, the points already spent or discarded before it opened; its accumulated points are
T - offset. An unlock only moves `offset` forward on the next progress, so points that arrive
while an unlock runs simply belong to the next progress: nothing waits, nothing is lost.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils import timezone

from communities.models import Community

KEY_PATTERN = r"^[a-z][a-z0-9_]*$"
SHARDS = 16


class Size(models.TextChoices):
    SMALL = "small", "Small"
    MEDIUM = "medium", "Medium"
    LARGE = "large", "Large"


BASE_COST: dict[str, int] = {Size.SMALL: 50, Size.MEDIUM: 200, Size.LARGE: 800}


def default_cost(size: str, tier: int) -> int:
    return round(BASE_COST[size] * 1.5**tier)


class Season(models.Model):
    community = models.ForeignKey(Community, on_delete=models.CASCADE, related_name="seasons")
    number = models.PositiveIntegerField()
    started_at = models.DateTimeField(default=timezone.now)
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["community", "number"], name="season_number_unique"),
            models.UniqueConstraint(
                fields=["community"], condition=Q(ended_at__isnull=True), name="one_open_season"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.community_id} season {self.number}"


class Node(models.Model):
    community = models.ForeignKey(Community, on_delete=models.CASCADE, related_name="nodes")
    key = models.CharField(max_length=64)
    name = models.CharField(max_length=120)
    description = models.TextField(blank=True, default="")
    category = models.CharField(max_length=60, blank=True, default="")
    tier = models.PositiveSmallIntegerField(default=0)
    size = models.CharField(max_length=10, choices=Size.choices, default=Size.SMALL)
    max_level = models.PositiveSmallIntegerField(default=1)
    cost_override = models.PositiveIntegerField(null=True, blank=True)
    count_rules = models.JSONField(default=list, blank=True)
    auto_unlock = models.BooleanField(default=False)
    effects = models.JSONField(default=list, blank=True)
    # Set when a tree load dropped the node but history still points at it: never offered again.
    retired_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["tier", "key"]
        constraints = [
            models.UniqueConstraint(fields=["community", "key"], name="node_key_unique"),
            models.CheckConstraint(
                condition=Q(max_level__gte=1) & Q(max_level__lte=100), name="node_max_level_range"
            ),
        ]

    def __str__(self) -> str:
        return self.key

    @property
    def cost(self) -> int:
        return (
            self.cost_override
            if self.cost_override is not None
            else default_cost(self.size, self.tier)
        )


class Prerequisite(models.Model):
    node = models.ForeignKey(Node, on_delete=models.CASCADE, related_name="prerequisites")
    required = models.ForeignKey(Node, on_delete=models.CASCADE, related_name="dependents")
    min_level = models.PositiveSmallIntegerField(default=1)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["node", "required"], name="prerequisite_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.node_id} needs {self.required_id}>={self.min_level}"


class EngagementWeight(models.Model):
    community = models.ForeignKey(Community, on_delete=models.CASCADE, related_name="weights")
    metric = models.CharField(max_length=40)
    weight = models.DecimalField(max_digits=12, decimal_places=4)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["community", "metric"]
        constraints = [
            models.UniqueConstraint(fields=["community", "metric"], name="weight_metric_unique"),
            models.CheckConstraint(condition=Q(weight__gte=0), name="weight_not_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.metric}={self.weight}"


class ProgressionSettings(models.Model):
    """Per-community knobs, each with a sensible default."""

    community = models.OneToOneField(
        Community, on_delete=models.CASCADE, primary_key=True, related_name="progression_settings"
    )
    rollover_cap = models.PositiveIntegerField(default=200)
    vote_options = models.PositiveSmallIntegerField(default=4)
    vote_duration_seconds = models.PositiveIntegerField(null=True, blank=True)
    # The least time any vote runs before it resolves by itself (unlock or deadline): a target
    # that fills meanwhile unlocks, and its successor waits for the vote (points are banked).
    vote_window_seconds = models.PositiveIntegerField(default=30)
    viewer_rate = models.PositiveIntegerField(default=10)  # events per second
    viewer_burst = models.PositiveIntegerField(default=20)
    community_rate = models.PositiveIntegerField(default=5000)
    community_burst = models.PositiveIntegerField(default=20000)

    class Meta:
        verbose_name_plural = "progression settings"

    def __str__(self) -> str:
        return f"settings of {self.community_id}"


class Viewer(models.Model):
    # Indexed by the unique (community, platform_user_id); a second index would only slow writes.
    community = models.ForeignKey(
        Community, on_delete=models.CASCADE, related_name="viewers", db_index=False
    )
    platform_user_id = models.CharField(max_length=100)
    display_name = models.CharField(max_length=100, blank=True, default="")
    points_total = models.BigIntegerField(default=0)
    events_total = models.BigIntegerField(default=0)
    first_seen_at = models.DateTimeField(default=timezone.now)
    last_seen_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["community", "platform_user_id"], name="viewer_platform_unique"
            ),
        ]

    def __str__(self) -> str:
        return self.display_name or self.platform_user_id


class UnlockProgress(models.Model):
    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        CLOSED = "closed", "Closed"

    community = models.ForeignKey(Community, on_delete=models.CASCADE, related_name="+")
    season = models.ForeignKey(Season, on_delete=models.CASCADE, related_name="progresses")
    node = models.ForeignKey(
        Node, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    level = models.PositiveSmallIntegerField(null=True, blank=True)
    cost = models.BigIntegerField(null=True, blank=True)
    offset = models.BigIntegerField(default=0)
    # The season total at which the target was first seen full (the line the rollover cap is
    # drawn at): written once, by the write that filled it (see progression/accounting.py).
    crossed_at_total = models.BigIntegerField(null=True, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.ACTIVE)
    auto_selected = models.BooleanField(default=False)
    up_next_node = models.ForeignKey(
        Node, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    up_next_level = models.PositiveSmallIntegerField(null=True, blank=True)
    opened_at = models.DateTimeField(default=timezone.now)
    closed_at = models.DateTimeField(null=True, blank=True)
    # Filled on close: how the points at that moment were used.
    accumulated_at_close = models.BigIntegerField(null=True, blank=True)
    spent = models.BigIntegerField(default=0)
    discarded = models.BigIntegerField(default=0)
    rolled_over = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["community"], condition=Q(status="active"), name="one_active_progress"
            ),
        ]

    def __str__(self) -> str:
        return f"progress {self.pk} of {self.community_id} ({self.status})"


class PointsShard(models.Model):
    season = models.ForeignKey(Season, on_delete=models.CASCADE, related_name="shards")
    shard = models.PositiveSmallIntegerField()
    points = models.BigIntegerField(default=0)
    events = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["season", "shard"], name="points_shard_unique"),
        ]

    def __str__(self) -> str:
        return f"season {self.season_id} shard {self.shard}: {self.points}"


class Contribution(models.Model):
    """The ledger: one row per credited engagement event."""

    community = models.ForeignKey(
        Community, on_delete=models.CASCADE, related_name="+", db_constraint=False
    )
    # season and progress lead the two composite indexes below; their own single-column
    # indexes would cost every ledger insert and serve no query.
    season = models.ForeignKey(
        Season, on_delete=models.CASCADE, related_name="+", db_index=False, db_constraint=False
    )
    viewer = models.ForeignKey(Viewer, on_delete=models.CASCADE, related_name="contributions")
    progress = models.ForeignKey(
        UnlockProgress,
        on_delete=models.CASCADE,
        related_name="+",
        db_index=False,
        db_constraint=False,
    )
    metric = models.CharField(max_length=40)
    value = models.BigIntegerField()
    points = models.BigIntegerField()
    # NULL, not "": events without an id must not collide in the unique index.
    message_id = models.CharField(max_length=200, null=True, blank=True)  # noqa: DJ001
    occurred_at = models.DateTimeField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["community", "message_id"],
                condition=Q(message_id__isnull=False),
                name="contribution_message_once",
            ),
        ]
        indexes = [
            models.Index(fields=["season", "viewer"], name="contribution_season_viewer"),
            models.Index(fields=["progress", "viewer"], name="contribution_progress_viewer"),
        ]

    def __str__(self) -> str:
        return f"{self.viewer_id} +{self.points} ({self.metric})"


class Unlock(models.Model):
    class Reason(models.TextChoices):
        POINTS = "points", "Points"
        FORCED = "forced", "Forced by an admin"
        AUTO = "auto", "Auto-unlock"

    community = models.ForeignKey(Community, on_delete=models.CASCADE, related_name="+")
    season = models.ForeignKey(Season, on_delete=models.CASCADE, related_name="unlocks")
    node = models.ForeignKey(Node, on_delete=models.PROTECT, related_name="unlocks")
    level = models.PositiveSmallIntegerField()
    reason = models.CharField(max_length=10, choices=Reason.choices, default=Reason.POINTS)
    progress = models.OneToOneField(
        UnlockProgress, null=True, blank=True, on_delete=models.PROTECT, related_name="unlock"
    )
    unlocked_at = models.DateTimeField(default=timezone.now)
    relocked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["unlocked_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["season", "node", "level"],
                condition=Q(relocked_at__isnull=True),
                name="unlock_once_per_level",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.node_id} L{self.level}"


class VoteSession(models.Model):
    class Status(models.TextChoices):
        OPEN = "open", "Open"
        FROZEN = "frozen", "Frozen"
        RESOLVED = "resolved", "Resolved"
        CANCELLED = "cancelled", "Cancelled"

    class Resolution(models.TextChoices):
        VOTES = "votes", "Most votes"
        TIE = "tie", "Tie: first to reach the top count"
        RANDOM = "random", "No votes: random"
        AUTO = "auto", "Only one candidate"

    community = models.ForeignKey(Community, on_delete=models.CASCADE, related_name="+")
    season = models.ForeignKey(Season, on_delete=models.CASCADE, related_name="votes")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN)
    started_at = models.DateTimeField(default=timezone.now)
    deadline = models.DateTimeField(null=True, blank=True)
    frozen_remaining_seconds = models.FloatField(null=True, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolution = models.CharField(max_length=10, choices=Resolution.choices, blank=True, default="")
    resolved_by = models.CharField(max_length=20, blank=True, default="")
    winner = models.ForeignKey(
        "VoteOption", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["community"],
                condition=Q(status__in=["open", "frozen"]),
                name="one_open_vote",
            ),
        ]

    def __str__(self) -> str:
        return f"vote {self.pk} ({self.status})"


class VoteOption(models.Model):
    session = models.ForeignKey(VoteSession, on_delete=models.CASCADE, related_name="options")
    node = models.ForeignKey(Node, on_delete=models.PROTECT, related_name="+")
    level = models.PositiveSmallIntegerField()
    position = models.PositiveSmallIntegerField()
    votes = models.PositiveIntegerField(default=0)
    last_vote_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["session", "position"]
        constraints = [
            models.UniqueConstraint(fields=["session", "position"], name="vote_option_position"),
            models.UniqueConstraint(fields=["session", "node"], name="vote_option_node"),
        ]

    def __str__(self) -> str:
        return f"{self.node_id} L{self.level}: {self.votes}"


class Vote(models.Model):
    session = models.ForeignKey(VoteSession, on_delete=models.CASCADE, related_name="ballots")
    option = models.ForeignKey(VoteOption, on_delete=models.CASCADE, related_name="ballots")
    voter = models.CharField(max_length=120)  # "viewer:<platform id>" or "user:<id>"
    cast_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["session", "voter"], name="one_vote_per_voter"),
        ]

    def __str__(self) -> str:
        return f"{self.voter} -> {self.option_id}"
