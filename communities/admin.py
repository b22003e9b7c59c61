"""Admin for streamers: their communities, who belongs, their bots' API tokens and their
overlay keys.

Every write goes through `communities.services`. A token's secret is shown once, in the message
after it is created, and never stored. Non-superusers see only communities they may manage,
as `communities.permissions` decides.
"""

from __future__ import annotations

from typing import Any, cast

from django import forms
from django.contrib import admin, messages
from django.contrib.auth.models import User
from django.db.models import Model, QuerySet
from django.http import HttpRequest

from communities import services
from communities.admin_access import community_ids_where
from communities.models import ApiToken, Community, Membership, OverlayKey, Role, Scope
from communities.permissions import Action

TOKEN_FIELDS = ("name", "prefix", "scope_list", "created_at", "last_used_at", "revoked_at")
TOKEN_DETAIL_FIELDS = ("community", *TOKEN_FIELDS, "created_by")


def managed_community_ids(request: HttpRequest) -> list[int] | None:
    """Ids of the communities this user may manage; None means all of them (superusers)."""
    return community_ids_where(request, Action.MANAGE)


def _adopt(obj: Model, saved: Model) -> None:
    """Makes the admin's unsaved instance the row a service just wrote (for logs, redirects)."""
    for field in saved._meta.concrete_fields:
        setattr(obj, field.attname, getattr(saved, field.attname))
    obj._state.adding, obj._state.db = False, saved._state.db


class ManagedCommunitiesOnly(admin.ModelAdmin):
    community_lookup = "community"

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        queryset = super().get_queryset(request)
        ids = managed_community_ids(request)
        if ids is None:
            return queryset
        return queryset.filter(**{f"{self.community_lookup}__in": ids})

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        ids = managed_community_ids(request)
        if db_field.name == "community" and ids is not None:
            kwargs["queryset"] = Community.objects.filter(pk__in=ids)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


class MembershipForm(forms.ModelForm):
    def clean(self) -> dict[str, Any] | None:
        cleaned = super().clean()
        for field in ("user", "community"):
            if self.instance.pk and field in self.changed_data:
                self.add_error(field, "Remove this membership and add a new one instead.")
        return cleaned


class MembershipInline(admin.TabularInline):
    model = Membership
    form = MembershipForm
    fields = ("user", "role", "created_at")
    readonly_fields = ("created_at",)
    autocomplete_fields = ("user",)
    extra = 0


class ApiTokenInline(admin.TabularInline):
    model = ApiToken
    fields = readonly_fields = TOKEN_FIELDS
    extra = 0
    can_delete = False
    show_change_link = True

    @admin.display(description="scopes")
    def scope_list(self, token: ApiToken) -> str:
        return ", ".join(token.scopes)

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Community)
class CommunityAdmin(ManagedCommunitiesOnly):
    community_lookup = "pk"
    list_display = ("slug", "name", "visibility", "created_at")
    list_filter = ("visibility", "created_at")
    search_fields = ("slug", "name")
    readonly_fields = ("created_at",)
    inlines = (MembershipInline, ApiTokenInline)

    def save_model(self, request: HttpRequest, obj: Community, form: Any, change: bool) -> None:
        if change:  # renaming or changing visibility has no service of its own
            return super().save_model(request, obj, form, change)
        community = services.create_community(
            slug=obj.slug, name=obj.name, visibility=obj.visibility
        )
        if not request.user.is_superuser:  # a streamer keeps the community they create
            services.set_membership(
                community=community, user=cast(User, request.user), role=Role.OWNER
            )
        _adopt(obj, community)

    def save_formset(self, request: HttpRequest, form: Any, formset: Any, change: bool) -> None:
        if formset.model is not Membership:
            return super().save_formset(request, form, formset, change)
        formset.save(commit=False)
        for membership in formset.deleted_objects:
            services.remove_membership(community=form.instance, user=membership.user)
        changed = [membership for membership, _ in formset.changed_objects]
        for membership in [*formset.new_objects, *changed]:
            services.set_membership(
                community=form.instance, user=membership.user, role=membership.role
            )


@admin.register(Membership)
class MembershipAdmin(ManagedCommunitiesOnly):
    form = MembershipForm
    list_display = ("user", "community", "role", "created_at")
    list_filter = ("role", ("community", admin.RelatedOnlyFieldListFilter))
    search_fields = ("user__username", "community__slug")
    autocomplete_fields = ("user", "community")
    list_select_related = ("user", "community")

    def save_model(self, request: HttpRequest, obj: Membership, form: Any, change: bool) -> None:
        saved = services.set_membership(community=obj.community, user=obj.user, role=obj.role)
        _adopt(obj, saved)

    def delete_model(self, request: HttpRequest, obj: Membership) -> None:
        services.remove_membership(community=obj.community, user=obj.user)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet) -> None:
        for membership in queryset.select_related("community", "user"):
            self.delete_model(request, membership)


class TokenStatusFilter(admin.SimpleListFilter):
    title = "status"
    parameter_name = "status"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("active", "Active"), ("revoked", "Revoked")]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        if self.value() not in ("active", "revoked"):
            return queryset
        return queryset.filter(revoked_at__isnull=self.value() == "active")


class ApiTokenAddForm(forms.ModelForm):
    scopes = forms.MultipleChoiceField(choices=Scope.choices, widget=forms.CheckboxSelectMultiple)

    class Meta:
        model = ApiToken
        fields = ("community", "name", "scopes")


@admin.register(ApiToken)
class ApiTokenAdmin(ManagedCommunitiesOnly):
    list_display = (
        "name",
        "community",
        "prefix",
        "scope_list",
        "created_at",
        "last_used_at",
        "revoked_at",
        "active",
    )
    list_filter = (("community", admin.RelatedOnlyFieldListFilter), TokenStatusFilter, "created_at")
    search_fields = ("name", "prefix", "community__slug")
    list_select_related = ("community",)
    autocomplete_fields = ("community",)
    actions = ("revoke_selected",)
    scope_list = ApiTokenInline.scope_list

    @admin.display(boolean=True, description="active")
    def active(self, token: ApiToken) -> bool:
        return token.is_active

    def get_form(
        self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any
    ) -> Any:
        if obj is None:
            kwargs["form"] = ApiTokenAddForm
        return super().get_form(request, obj, change, **kwargs)

    def get_fields(self, request: HttpRequest, obj: Any = None) -> tuple[str, ...]:
        return ApiTokenAddForm.Meta.fields if obj is None else TOKEN_DETAIL_FIELDS

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> tuple[str, ...]:
        return () if obj is None else TOKEN_DETAIL_FIELDS

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        """An issued token never changes; revoking (an action on the list) is the one change."""
        return obj is None and super().has_change_permission(request)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        """Streamers revoke, which keeps the record; only superusers delete rows."""
        return request.user.is_superuser

    def save_model(self, request: HttpRequest, obj: ApiToken, form: Any, change: bool) -> None:
        issued = services.create_api_token(
            community=obj.community,
            name=obj.name,
            scopes=form.cleaned_data["scopes"],
            created_by=cast(User, request.user),  # the admin requires a logged-in user
        )
        _adopt(obj, issued.token)
        messages.success(
            request,
            f"Secret for token “{issued.token.name}”: {issued.secret} — copy it now; "
            "it is not stored and will not be shown again.",
        )

    @admin.action(description="Revoke selected tokens", permissions=["change"])
    def revoke_selected(self, request: HttpRequest, queryset: QuerySet) -> None:
        tokens = list(queryset.filter(revoked_at__isnull=True))
        for token in tokens:
            services.revoke_api_token(token)
            self.log_change(request, token, "Revoked.")
        self.message_user(request, f"Revoked {len(tokens)} token(s).", messages.SUCCESS)


OVERLAY_KEY_FIELDS = ("name", "prefix", "created_at", "last_used_at", "revoked_at")


@admin.register(OverlayKey)
class OverlayKeyAdmin(ManagedCommunitiesOnly):
    """Created here or in the moderator console; the secret (in the overlay URL) is shown once."""

    list_display = ("name", "community", "prefix", "created_at", "last_used_at", "revoked_at")
    list_filter = (("community", admin.RelatedOnlyFieldListFilter), TokenStatusFilter)
    search_fields = ("name", "prefix", "community__slug")
    list_select_related = ("community",)
    actions = ("revoke_selected",)

    def get_fields(self, request: HttpRequest, obj: Any = None) -> tuple[str, ...]:
        return ("community", "name") if obj is None else ("community", *OVERLAY_KEY_FIELDS)

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> tuple[str, ...]:
        return () if obj is None else ("community", *OVERLAY_KEY_FIELDS)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return obj is None and super().has_change_permission(request)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.is_superuser

    def save_model(self, request: HttpRequest, obj: OverlayKey, form: Any, change: bool) -> None:
        issued = services.create_overlay_key(
            community=obj.community, name=obj.name, created_by=cast(User, request.user)
        )
        _adopt(obj, issued.key)
        messages.success(
            request,
            f"Overlay URL for “{issued.key.name}”: /c/{obj.community.slug}/overlay/?key="
            f"{issued.secret} — copy it now; it is not stored and will not be shown again.",
        )

    @admin.action(description="Revoke selected overlay keys", permissions=["change"])
    def revoke_selected(self, request: HttpRequest, queryset: QuerySet) -> None:
        keys = list(queryset.filter(revoked_at__isnull=True))
        for key in keys:
            services.revoke_overlay_key(key)
            self.log_change(request, key, "Revoked.")
        self.message_user(request, f"Revoked {len(keys)} overlay key(s).", messages.SUCCESS)
