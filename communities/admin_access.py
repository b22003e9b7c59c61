"""The admin asks `communities.permissions` who may see and do what, per community.

Streamers are staff users without Django's per-model permission rows: an owner or moderator
sees, in every admin that mixes `CommunityScoped` in, exactly the rows of the communities where
`permissions.can` lets them act, picks only those communities (and their nodes) in forms, and
gets a 404 for any other row, exactly as for a row that does not exist. Superusers see all.
"""

from __future__ import annotations

import functools
from typing import Any

from django.contrib import admin
from django.db.models import Model, QuerySet
from django.http import Http404, HttpRequest

from communities.models import Community
from communities.permissions import Action, can
from communities.selectors import actor_for_user


def community_ids_where(request: HttpRequest, action: Action) -> list[int] | None:
    """Ids of the communities where this user may `action`; None means all (superusers).
    Computed once per request and action."""
    memo: dict[Action, list[int] | None] = request.__dict__.setdefault("_community_ids_where", {})
    if action not in memo:
        actor = actor_for_user(request.user)
        if actor.is_superuser:
            memo[action] = None
        else:
            mine = Community.objects.filter(pk__in=list(actor.roles))
            memo[action] = [c.pk for c in mine if can(actor, action, c)]
    return memo[action]


def _staff(request: HttpRequest) -> bool:
    user = request.user
    return bool(user.is_active and getattr(user, "is_staff", False))


def _allowed(ids: list[int] | None, community_id: int | None) -> bool:
    return ids is None or community_id in ids


def community_id_of(obj: Model, lookup: str) -> int | None:
    """Follows `lookup` ("community", "session__community", "pk") from `obj` to a community id."""
    *path, last = lookup.split("__")
    target: Any = functools.reduce(getattr, path, obj)
    return target.pk if last == "pk" else getattr(target, f"{last}_id")


class _Scoped:
    """Shared by model admins and inlines: which action each kind of access needs."""

    community_lookup = "community"
    view_action = Action.MODERATE
    change_action = Action.MODERATE

    def _may(self, request: HttpRequest, action: Action, obj: Model | None) -> bool:
        ids = community_ids_where(request, action)
        if obj is None:
            return ids is None or bool(ids)
        return _allowed(ids, community_id_of(obj, self.community_lookup))

    def scope_foreign_key(self, db_field: Any, request: HttpRequest, kwargs: dict) -> None:
        """Only the user's communities, and only nodes (or other rows) of those, can be picked."""
        ids = community_ids_where(request, self.change_action)
        if ids is None:
            return
        related = db_field.remote_field.model
        if related is Community:
            kwargs["queryset"] = Community.objects.filter(pk__in=ids)
        elif any(f.name == "community" for f in related._meta.fields):
            kwargs["queryset"] = related._default_manager.filter(community__in=ids)


class CommunityScoped(_Scoped, admin.ModelAdmin):
    """A model admin whose rows belong to a community (through `community_lookup`)."""

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        queryset = super().get_queryset(request)
        ids = community_ids_where(request, self.view_action)
        if ids is None:
            return queryset
        return queryset.filter(**{f"{self.community_lookup}__in": ids})

    def get_object(self, request: HttpRequest, object_id: str, from_field: Any = None) -> Any:
        """Another community's row answers 404, like a row that does not exist (no redirect
        that would tell them apart)."""
        obj = super().get_object(request, object_id, from_field)
        if obj is None:
            raise Http404("No such row.")
        return obj

    def has_module_permission(self, request: HttpRequest) -> bool:
        return _staff(request) and self._may(request, self.view_action, None)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self.has_module_permission(request) and (
            self._may(request, self.view_action, obj) or self.has_change_permission(request, obj)
        )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return _staff(request) and self._may(request, self.change_action, None)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return _staff(request) and self._may(request, self.change_action, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self.has_change_permission(request, obj)

    def has_moderate_permission(self, request: HttpRequest) -> bool:
        """For actions declared with `permissions=["moderate"]` (their rows are scoped too)."""
        return _staff(request) and self._may(request, Action.MODERATE, None)

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        self.scope_foreign_key(db_field, request, kwargs)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


class CommunityScopedInline(_Scoped):
    """An inline whose parent row belongs to a community: the parent's scope decides."""

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return _staff(request) and self._may(request, self.view_action, obj)

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return _staff(request) and self._may(request, self.change_action, obj)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return _staff(request) and self._may(request, self.change_action, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self.has_change_permission(request, obj)

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        self.scope_foreign_key(db_field, request, kwargs)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)  # type: ignore[misc]


class MyCommunitiesFilter(admin.SimpleListFilter):
    """Filter by community, listing only the user's communities (no DISTINCT over the rows,
    which on the ledger would scan millions)."""

    title = "community"
    parameter_name = "community"
    lookup_field = "community"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        ids = community_ids_where(request, getattr(model_admin, "view_action", Action.MODERATE))
        communities = Community.objects.order_by("slug")
        if ids is not None:
            communities = communities.filter(pk__in=ids)
        return [(str(c.pk), c.slug) for c in communities]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        if self.value() is None:
            return queryset
        return queryset.filter(**{f"{self.lookup_field}_id": self.value()})
