"""The jobs app's models. TEMPORARY stub `Job` until ws-jobs (the job machinery) is merged:
the merge keeps their `Job` and this file's import of the suggestions models."""

from __future__ import annotations

import uuid

from django.db import models

from communities.models import Community
from jobs.suggestions_models import Proposal, Suggestion

__all__ = ["Job", "Proposal", "Suggestion"]


class Job(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    community = models.ForeignKey(Community, on_delete=models.CASCADE, related_name="jobs")
    kind = models.CharField(max_length=50)
    status = models.CharField(max_length=10, default="running")
    checkpoints = models.JSONField(default=dict, blank=True)
