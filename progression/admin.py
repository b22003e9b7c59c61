"""Admin for streamers: the tree, weights, settings, viewers, and the history of unlocks and votes.

Edits that the engine must notice (weights, settings) go through services so every process
drops its cached copy; history (ledger, unlocks, votes) is read-only here.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from communities.errors import ApplicationError
from progression import cache
from progression.models import (
    Contribution,
    EngagementWeight,
    Node,
    Prerequisite,
    ProgressionSettings,
    Unlock,
    UnlockProgress,
    Viewer,
    VoteOption,
    VoteSession,
)
from progression.services import admin_actions
from progression.services.state import settings_key


class PrerequisiteInline(admin.TabularInline):
    model = Prerequisite
    fk_name = "node"
    extra = 0
    autocomplete_fields = ["required"]


@admin.register(Node)
class NodeAdmin(admin.ModelAdmin):
    list_display = ["key", "name", "community", "tier", "size", "max_level", "cost", "auto_unlock"]
    list_filter = ["community", "tier", "size", "category"]
    search_fields = ["key", "name", "community__slug"]
    inlines = [PrerequisiteInline]
    actions = ["force_unlock_next_level", "force_unlock_ignoring_prerequisites"]

    @admin.action(description="Force-unlock the next level (no points spent)")
    def force_unlock_next_level(self, request: HttpRequest, queryset: QuerySet[Node]) -> None:
        self._force_unlock(request, queryset, ignore_prerequisites=False)

    @admin.action(description="Force-unlock the next level, ignoring unmet prerequisites")
    def force_unlock_ignoring_prerequisites(
        self, request: HttpRequest, queryset: QuerySet[Node]
    ) -> None:
        self._force_unlock(request, queryset, ignore_prerequisites=True)

    def _force_unlock(
        self, request: HttpRequest, queryset: QuerySet[Node], *, ignore_prerequisites: bool
    ) -> None:
        for node in queryset.select_related("community"):
            try:
                unlock = admin_actions.force_unlock(
                    node.community,
                    node.key,
                    by=f"user:{request.user.pk}",
                    ignore_prerequisites=ignore_prerequisites,
                )
            except ApplicationError as exc:  # shown to the admin, one node at a time
                unmet = (exc.fields or {}).get("prerequisites")
                detail = f" (unmet: {', '.join(unmet)})" if unmet else ""
                messages.error(request, f"{node.key}: {exc}{detail}")
            else:
                messages.success(request, f"{node.key} unlocked at level {unlock.level}")


@admin.register(EngagementWeight)
class EngagementWeightAdmin(admin.ModelAdmin):
    list_display = ["community", "metric", "weight", "updated_at"]
    list_filter = ["community", "metric"]
    search_fields = ["community__slug", "metric"]

    def save_model(
        self, request: HttpRequest, obj: EngagementWeight, form: Any, change: bool
    ) -> None:
        admin_actions.set_weight(obj.community, obj.metric, str(obj.weight))


@admin.register(ProgressionSettings)
class ProgressionSettingsAdmin(admin.ModelAdmin):
    list_display = [
        "community",
        "rollover_cap",
        "vote_options",
        "vote_duration_seconds",
        "viewer_rate",
        "community_rate",
    ]

    def save_model(
        self, request: HttpRequest, obj: ProgressionSettings, form: Any, change: bool
    ) -> None:
        super().save_model(request, obj, form, change)
        cache.invalidate_on_commit(settings_key(obj.community_id))


@admin.register(Viewer)
class ViewerAdmin(admin.ModelAdmin):
    list_display = [
        "platform_user_id",
        "display_name",
        "community",
        "points_total",
        "events_total",
        "last_seen_at",
    ]
    list_filter = ["community"]
    search_fields = ["platform_user_id", "display_name"]
    readonly_fields = [f.name for f in Viewer._meta.fields]


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Contribution)
class ContributionAdmin(ReadOnlyAdmin):
    list_display = [
        "viewer",
        "community",
        "metric",
        "value",
        "points",
        "message_id",
        "progress",
        "occurred_at",
    ]
    list_filter = ["community", "metric"]
    search_fields = ["viewer__platform_user_id", "message_id"]


@admin.register(Unlock)
class UnlockAdmin(ReadOnlyAdmin):
    list_display = ["node", "level", "community", "reason", "unlocked_at", "relocked_at"]
    list_filter = ["community", "reason"]
    search_fields = ["node__key"]


@admin.register(UnlockProgress)
class UnlockProgressAdmin(ReadOnlyAdmin):
    list_display = [
        "pk",
        "community",
        "node",
        "level",
        "cost",
        "offset",
        "status",
        "spent",
        "rolled_over",
        "discarded",
    ]
    list_filter = ["community", "status"]


class VoteOptionInline(admin.TabularInline):
    model = VoteOption
    extra = 0
    can_delete = False
    readonly_fields = ["position", "node", "level", "votes", "last_vote_at"]

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(VoteSession)
class VoteSessionAdmin(ReadOnlyAdmin):
    list_display = [
        "pk",
        "community",
        "status",
        "started_at",
        "deadline",
        "resolution",
        "resolved_by",
    ]
    list_filter = ["community", "status", "resolution"]
    inlines = [VoteOptionInline]
