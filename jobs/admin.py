"""Jobs in the admin: owners and moderators see their communities' jobs (read-only; the
pipelines are the only writers) and may cancel or retry them through the services."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from communities.admin_access import CommunityScoped, MyCommunitiesFilter
from communities.errors import ApplicationError
from jobs import services
from jobs.events import percent
from jobs.models import Job


@admin.register(Job)
class JobAdmin(CommunityScoped):
    list_display = [
        "id",
        "kind",
        "community",
        "status",
        "stage",
        "progress",
        "attempt",
        "created_at",
    ]
    list_filter = [MyCommunitiesFilter, "status", "kind"]
    list_select_related = ["community"]
    search_fields = ["id"]
    actions = ["cancel", "retry"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description="progress")
    def progress(self, job: Job) -> str:
        return f"{percent(job):g}% ({job.current}/{job.total} in {job.stage})"

    @admin.action(
        description="Cancel (queued: at once; running: at its next unit)", permissions=["moderate"]
    )
    def cancel(self, request: HttpRequest, queryset: QuerySet[Job]) -> None:
        self._each(request, queryset, services.request_cancel, "cancel requested")

    @admin.action(description="Retry (failed or cancelled jobs)", permissions=["moderate"])
    def retry(self, request: HttpRequest, queryset: QuerySet[Job]) -> None:
        self._each(request, queryset, services.retry_job, "queued again")

    def _each(self, request: HttpRequest, queryset: QuerySet[Job], act: Any, done: str) -> None:
        for job in queryset:
            try:
                act(job)
            except ApplicationError as refused:
                self.message_user(request, f"{job.pk}: {refused.message}", messages.WARNING)
            else:
                self.message_user(request, f"{job.pk}: {done}", messages.SUCCESS)
