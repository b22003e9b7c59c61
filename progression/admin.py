"""Admin for streamers: the tree, weights, settings, viewers, votes, unlocks and seasons.

Who sees and does what is answered by `communities.permissions` (through
`communities.admin_access`): an owner or moderator sees only their communities' rows, picks only
their communities and nodes in forms, and gets a 404 for anyone else's row. Staff status is
all a streamer needs; no per-model permission rows. Settings need the `manage` action (owners),
everything else `moderate` (owners and moderators), as on the API.

Every edit goes through a service (`progression.services.admin_actions`, `.voting`), which
re-plans the engine and drops cached copies in every process; history (ledger, unlocks, votes,
seasons) is read-only, changed only by the actions listed on each page.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.forms.models import BaseInlineFormSet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse

from communities.admin_access import CommunityScoped, CommunityScopedInline, MyCommunitiesFilter
from communities.errors import ApplicationError, InvalidInput
from communities.models import Community
from communities.permissions import Action
from progression.models import (
    Contribution,
    EngagementWeight,
    Node,
    Prerequisite,
    ProgressionSettings,
    Season,
    Unlock,
    UnlockProgress,
    Viewer,
    VoteOption,
    VoteSession,
)
from progression.selectors import OPEN_VOTE_STATES
from progression.services import admin_actions, voting


def _by(request: HttpRequest) -> str:
    return f"user:{request.user.pk}"


def _each_community(
    admin_page: admin.ModelAdmin,
    request: HttpRequest,
    communities: list[Community],
    act: Callable[[Community], str],
) -> None:
    """Runs one service per community, reporting each outcome; a refusal (409, ...) is shown
    and the others still run."""
    for community in communities:
        try:
            done = act(community)
        except ApplicationError as error:
            admin_page.message_user(request, f"{community.slug}: {error.message}", messages.ERROR)
        else:
            admin_page.message_user(request, f"{community.slug}: {done}", messages.SUCCESS)


class ReadOnly(CommunityScoped):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


def _rows(formset: Any) -> list[tuple[Node, int]]:
    return [
        (row["required"], row["min_level"])
        for row in formset.cleaned_data
        if row and not row.get("DELETE")
    ]


class PrerequisiteFormSet(BaseInlineFormSet):
    def clean(self) -> None:
        """The service's own check, run while the page can still show the problem."""
        super().clean()
        if any(self.errors):
            return
        try:
            admin_actions.check_prerequisites(self.instance, _rows(self))
        except InvalidInput as error:
            problems = (error.fields or {}).get("prerequisites", [error.message])
            raise ValidationError(problems) from error


class PrerequisiteInline(CommunityScopedInline, admin.TabularInline):
    model = Prerequisite
    formset = PrerequisiteFormSet
    fk_name = "node"
    extra = 0
    autocomplete_fields = ["required"]


@admin.register(Node)
class NodeAdmin(CommunityScoped):
    list_display = ["key", "name", "community", "tier", "size", "max_level", "cost", "retired_at"]
    list_filter = [MyCommunitiesFilter, "tier", "size", "category"]
    search_fields = ["key", "name"]
    list_select_related = ["community"]
    readonly_fields = ["retired_at", "created_at", "updated_at"]
    inlines = [PrerequisiteInline]
    actions = [
        "force_unlock_next_level",
        "force_unlock_ignoring_prerequisites",
        "relock_highest_level",
        "relock_with_dependents",
    ]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        """A node's community and key are its identity (unlocks and tree files refer to them)."""
        fixed = ["community", "key"] if obj is not None else []
        return [*fixed, *self.readonly_fields]

    def save_model(self, request: HttpRequest, obj: Node, form: Any, change: bool) -> None:
        """Saved together with its prerequisites in `save_related`, through the service."""

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        for formset in formsets:
            formset.save(commit=False)  # nothing written: fills what the change log lists
        found = [_rows(formset) for formset in formsets if formset.model is Prerequisite]
        admin_actions.save_node(form.instance, prerequisites=found[0] if found else None)

    def delete_model(self, request: HttpRequest, obj: Node) -> None:
        if not admin_actions.delete_node(obj):
            self.message_user(
                request, f"{obj.key} is in the history: retired instead.", messages.WARNING
            )

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet) -> None:
        for node in queryset.select_related("community"):
            self.delete_model(request, node)

    def get_deleted_objects(self, objs: Any, request: HttpRequest) -> Any:
        """Nodes the history points at are retired, not deleted, so neither the history rows
        (protected) nor their read-only pages block; only prerequisites really go with a node."""
        deleted, counts, _perms_needed, _protected = super().get_deleted_objects(objs, request)
        return deleted, counts, set(), []

    def _per_node(self, request: HttpRequest, queryset: QuerySet, act: Callable) -> None:
        for node in queryset.select_related("community"):
            try:
                done = act(node)
            except ApplicationError as error:
                unmet = (error.fields or {}).get("prerequisites")
                detail = f" (unmet: {', '.join(unmet)})" if unmet else ""
                self.message_user(request, f"{node.key}: {error.message}{detail}", messages.ERROR)
            else:
                self.message_user(request, f"{node.key}: {done}", messages.SUCCESS)

    @admin.action(
        description="Force-unlock the next level (no points spent)", permissions=["moderate"]
    )
    def force_unlock_next_level(self, request: HttpRequest, queryset: QuerySet) -> None:
        self._force_unlock(request, queryset, ignore_prerequisites=False)

    @admin.action(
        description="Force-unlock the next level, ignoring unmet prerequisites",
        permissions=["moderate"],
    )
    def force_unlock_ignoring_prerequisites(self, request: HttpRequest, queryset: QuerySet) -> None:
        self._force_unlock(request, queryset, ignore_prerequisites=True)

    def _force_unlock(
        self, request: HttpRequest, queryset: QuerySet, *, ignore_prerequisites: bool
    ) -> None:
        def act(node: Node) -> str:
            unlock = admin_actions.force_unlock(
                node.community,
                node.key,
                by=_by(request),
                ignore_prerequisites=ignore_prerequisites,
            )
            return f"unlocked at level {unlock.level}"

        self._per_node(request, queryset, act)

    @admin.action(description="Relock the highest level", permissions=["moderate"])
    def relock_highest_level(self, request: HttpRequest, queryset: QuerySet) -> None:
        self._relock(request, queryset, cascade=False)

    @admin.action(
        description="Relock the highest level and what depends on it", permissions=["moderate"]
    )
    def relock_with_dependents(self, request: HttpRequest, queryset: QuerySet) -> None:
        self._relock(request, queryset, cascade=True)

    def _relock(self, request: HttpRequest, queryset: QuerySet, *, cascade: bool) -> None:
        def act(node: Node) -> str:
            relocked = admin_actions.relock(
                node.community, node.key, cascade=cascade, by=_by(request)
            )
            return "relocked " + ", ".join(f"{r['key']} L{r['level']}" for r in relocked)

        self._per_node(request, queryset, act)


@admin.register(EngagementWeight)
class EngagementWeightAdmin(CommunityScoped):
    list_display = ["community", "metric", "weight", "updated_at"]
    list_filter = [MyCommunitiesFilter, "metric"]
    search_fields = ["metric"]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return ["community", "metric"] if obj is not None else []

    def save_model(
        self, request: HttpRequest, obj: EngagementWeight, form: Any, change: bool
    ) -> None:
        admin_actions.set_weight(obj.community, obj.metric, str(obj.weight))
        saved = EngagementWeight.objects.get(community=obj.community, metric=obj.metric)
        obj.pk, obj._state.adding = saved.pk, False

    def delete_model(self, request: HttpRequest, obj: EngagementWeight) -> None:
        admin_actions.reset_weight(obj.community, obj.metric)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet) -> None:
        for weight in queryset.select_related("community"):
            self.delete_model(request, weight)


@admin.register(ProgressionSettings)
class ProgressionSettingsAdmin(CommunityScoped):
    change_action = Action.MANAGE
    list_display = [
        "community",
        "rollover_cap",
        "vote_options",
        "vote_duration_seconds",
        "vote_window_seconds",
        "viewer_rate",
        "community_rate",
    ]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return ["community"] if obj is not None else []

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # the defaults are a row's starting values; edit them instead

    def save_model(
        self, request: HttpRequest, obj: ProgressionSettings, form: Any, change: bool
    ) -> None:
        admin_actions.save_settings(obj)


@admin.register(Viewer)
class ViewerAdmin(ReadOnly):
    list_display = [
        "platform_user_id",
        "display_name",
        "community",
        "points_total",
        "events_total",
        "last_seen_at",
    ]
    list_filter = [MyCommunitiesFilter]
    search_fields = ["platform_user_id", "display_name"]
    list_select_related = ["community"]


@admin.register(Contribution)
class ContributionAdmin(ReadOnly):
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
    list_filter = [MyCommunitiesFilter]  # a metric filter would scan the ledger for its values
    search_fields = ["viewer__platform_user_id", "message_id"]
    list_select_related = ["viewer", "community"]
    show_full_result_count = False  # the ledger is large; no COUNT(*) per page


@admin.register(Unlock)
class UnlockAdmin(ReadOnly):
    list_display = ["node", "level", "community", "reason", "unlocked_at", "relocked_at"]
    list_filter = [MyCommunitiesFilter, "reason"]
    search_fields = ["node__key"]
    list_select_related = ["node", "community"]


@admin.register(UnlockProgress)
class UnlockProgressAdmin(ReadOnly):
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
    list_filter = [MyCommunitiesFilter, "status"]
    list_select_related = ["node", "community"]


@admin.register(Season)
class SeasonAdmin(ReadOnly):
    list_display = ["community", "number", "started_at", "ended_at"]
    list_filter = [MyCommunitiesFilter]
    list_select_related = ["community"]
    actions = ["start_vote", "reset_season"]

    @admin.action(description="Open a vote for what comes next", permissions=["moderate"])
    def start_vote(self, request: HttpRequest, queryset: QuerySet) -> None:
        def act(community: Community) -> str:
            session = voting.start_vote(community)
            return f"vote {session.pk} opened"

        _each_community(self, request, _communities(queryset), act)

    @admin.action(description="Reset: end the season and start the next", permissions=["moderate"])
    def reset_season(self, request: HttpRequest, queryset: QuerySet) -> HttpResponse | None:
        communities = _communities(queryset.filter(ended_at__isnull=True))
        if request.POST.get("confirmed") != "yes":
            return TemplateResponse(
                request,
                "admin/progression/season/reset_confirmation.html",
                {
                    **self.admin_site.each_context(request),
                    "title": "Reset the season?",
                    "communities": communities,
                    "queryset": queryset,
                    "opts": self.model._meta,
                    "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
                },
            )

        def act(community: Community) -> str:
            season = admin_actions.reset_season(community, by=_by(request))
            return f"season {season.number} started"

        _each_community(self, request, communities, act)
        return None


def _communities(queryset: QuerySet) -> list[Community]:
    ids = queryset.values_list("community_id", flat=True).distinct()
    return list(Community.objects.filter(pk__in=ids).order_by("slug"))


class VoteOptionInline(CommunityScopedInline, admin.TabularInline):
    model = VoteOption
    extra = 0
    can_delete = False
    readonly_fields = ["position", "node", "level", "votes", "last_vote_at"]

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(VoteSession)
class VoteSessionAdmin(ReadOnly):
    list_display = [
        "pk",
        "community",
        "status",
        "started_at",
        "deadline",
        "resolution",
        "resolved_by",
    ]
    list_filter = [MyCommunitiesFilter, "status", "resolution"]
    list_select_related = ["community"]
    inlines = [VoteOptionInline]
    actions = ["close_vote", "freeze_vote", "unfreeze_vote"]

    def _on_open(self, request: HttpRequest, queryset: QuerySet, act: Callable) -> None:
        open_ones = queryset.filter(status__in=OPEN_VOTE_STATES)
        _each_community(self, request, _communities(open_ones), act)

    @admin.action(description="Close: resolve the vote now", permissions=["moderate"])
    def close_vote(self, request: HttpRequest, queryset: QuerySet) -> None:
        def act(community: Community) -> str:
            winner = voting.close_vote(community)
            return f"winner {winner.node.key} L{winner.level}" if winner else "closed, no winner"

        self._on_open(request, queryset, act)

    @admin.action(description="Freeze (the deadline pauses)", permissions=["moderate"])
    def freeze_vote(self, request: HttpRequest, queryset: QuerySet) -> None:
        self._on_open(request, queryset, lambda c: f"vote {voting.freeze_vote(c).pk} frozen")

    @admin.action(description="Unfreeze", permissions=["moderate"])
    def unfreeze_vote(self, request: HttpRequest, queryset: QuerySet) -> None:
        self._on_open(request, queryset, lambda c: f"vote {voting.unfreeze_vote(c).pk} unfrozen")
