"""A job: one run of a pipeline kind (`jobs/kinds.py`) for a community, executed by Celery.

The row is the truth for status and progress; `jobs/services/` is the only writer and every
write is one conditional UPDATE. The percent is never stored: it is derived from the kind's
stage weights (`jobs.kinds.overall_percent`). `version` grows by one on every write, so a cached
copy can tell an older state from a newer one (`jobs/progress_cache.py`).
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from communities.models import ApiToken, Community

# Viewers' suggestions and the proposals made of them have a module of their own
# (jobs/suggestions_models.py); importing them here is how Django finds them.
from jobs.board_models import ProposalMove
from jobs.suggestions_models import Proposal, Suggestion

__all__ = ["Job", "Proposal", "ProposalMove", "SelftestUnit", "Status", "Suggestion"]


class Status(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


TERMINAL = (Status.SUCCEEDED, Status.FAILED, Status.CANCELLED)
ACTIVE = (Status.QUEUED, Status.RUNNING)


class Job(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    community = models.ForeignKey(Community, on_delete=models.CASCADE, related_name="jobs")
    kind = models.CharField(max_length=50)
    params = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)

    # Progress within the current stage. `stage_index` is the stage's position in the kind's
    # stages, kept beside the name so "never backwards" is one condition of the UPDATE.
    stage = models.CharField(max_length=50)
    stage_index = models.PositiveSmallIntegerField(default=0)
    current = models.PositiveIntegerField(default=0)
    total = models.PositiveIntegerField(default=0)
    message = models.CharField(max_length=300, blank=True, default="")
    version = models.PositiveBigIntegerField(default=1)

    # Runs. `attempt` counts runs of this job (a re-queue after worker loss or a retry each
    # start one more); the reaper re-queues only while attempt < max_attempts. `runner` is the
    # Celery task id that owns the current run: every write of the run is fenced by it.
    attempt = models.PositiveSmallIntegerField(default=1)
    max_attempts = models.PositiveSmallIntegerField(default=3)
    runner = models.CharField(max_length=64, blank=True, default="")
    heartbeat_at = models.DateTimeField(null=True, blank=True)

    result = models.JSONField(null=True, blank=True)
    error = models.TextField(blank=True, default="")
    error_stage = models.CharField(max_length=50, blank=True, default="")
    checkpoints = models.JSONField(default=dict, blank=True)  # finished stage -> its data

    started_by_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    started_by_token = models.ForeignKey(
        ApiToken, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    queued_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    cancel_requested_at = models.DateTimeField(null=True, blank=True)
    # Event coalescing: when `jobs.job.progressed` last left, and for which version.
    progress_published_at = models.DateTimeField(null=True, blank=True)
    published_version = models.PositiveBigIntegerField(default=0)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["community", "-created_at"], name="job_community_recent"),
            models.Index(fields=["status", "heartbeat_at"], name="job_status_heartbeat"),
            models.Index(fields=["status", "finished_at"], name="job_status_finished"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(status__in=Status.values), name="job_status_known"),
            models.CheckConstraint(
                condition=Q(current__gte=0) & Q(current__lte=models.F("total")),
                name="job_current_within_total",
            ),
            models.CheckConstraint(
                condition=Q(attempt__gte=1) & Q(attempt__lte=models.F("max_attempts")),
                name="job_attempt_within_max",
            ),
            models.CheckConstraint(
                condition=Q(status__in=[s.value for s in TERMINAL], finished_at__isnull=False)
                | Q(status__in=[s.value for s in ACTIVE], finished_at__isnull=True),
                name="job_finished_iff_terminal",
            ),
            models.CheckConstraint(
                condition=~Q(status=Status.RUNNING) | Q(started_at__isnull=False),
                name="job_running_has_started",
            ),
            models.CheckConstraint(
                condition=~Q(status=Status.SUCCEEDED) | Q(stage="complete"),
                name="job_succeeded_is_complete",
            ),
            models.CheckConstraint(
                condition=~Q(status=Status.FAILED) | ~Q(error=""),
                name="job_failed_says_why",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.id} ({self.status})"

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL


class SelftestUnit(models.Model):
    """One unit of work of the `selftest` kind: exists once per (job, unit) whatever the
    number of runs, which is how the end-to-end tests check "nothing produced twice"."""

    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="selftest_units")
    unit = models.PositiveIntegerField()
    attempt = models.PositiveSmallIntegerField()  # the run that wrote it first
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["job", "unit"], name="selftest_unit_once"),
        ]

    def __str__(self) -> str:
        return f"unit {self.unit} of {self.job_id}"
