"""The proposals board's history: every move of a card, who made it, from where to where.

Imported by `jobs/models.py` (the app's models module), so Django finds it there. The cards
themselves are `jobs.suggestions_models.Proposal` (column, position, version).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from communities.models import ApiToken, Community
from jobs.suggestions_models import Column


class ProposalMove(models.Model):
    """One move of one card. `job` is set when a pipeline moved it (build_tree → built);
    otherwise the moderator (`user`) or the token (`token`) that asked."""

    community = models.ForeignKey(
        Community, on_delete=models.CASCADE, related_name="proposal_moves"
    )
    proposal = models.ForeignKey("jobs.Proposal", on_delete=models.CASCADE, related_name="moves")
    from_column = models.CharField(max_length=12, choices=Column.choices)
    from_position = models.PositiveIntegerField(null=True, blank=True)
    to_column = models.CharField(max_length=12, choices=Column.choices)
    to_position = models.PositiveIntegerField()
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="proposal_moves",
    )
    token = models.ForeignKey(
        ApiToken, null=True, blank=True, on_delete=models.SET_NULL, related_name="proposal_moves"
    )
    job = models.ForeignKey(
        "jobs.Job", null=True, blank=True, on_delete=models.SET_NULL, related_name="card_moves"
    )
    version = models.PositiveIntegerField()  # the card's version after the move
    moved_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["moved_at", "id"]
        indexes = [models.Index(fields=["proposal", "moved_at"], name="proposal_move_history")]
        constraints = [
            models.CheckConstraint(
                condition=Q(from_column__in=Column.values) & Q(to_column__in=Column.values),
                name="proposal_move_columns_known",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.proposal_id}: {self.from_column}→{self.to_column}"
