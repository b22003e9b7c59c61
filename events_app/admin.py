"""Admin for streamers: events with their targets, items, bundles, runs and deliveries.

Scoped like `progression.admin` (`communities.admin_access`): an owner or moderator sees only
their communities' rows and gets a 404 for any other. Every write goes through
`events_app.services` (same validation, same locks, same stream events as the API); runs are
read-only and corrected only by the "void" action, which asks for a reason.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ActionForm
from django.db.models import QuerySet
from django.forms.models import BaseInlineFormSet
from django.http import HttpRequest

from communities.admin_access import CommunityScoped, CommunityScopedInline, MyCommunitiesFilter
from communities.errors import ApplicationError
from events_app.models import (
    AssemblyRun,
    AssemblyTarget,
    Bundle,
    BundleComponent,
    Delivery,
    DeliveryStatus,
    Event,
    Item,
    ProductionRun,
    ProductionTarget,
)
from events_app.services import catalogue, deliveries, runs


def _report(
    page: admin.ModelAdmin, request: HttpRequest, label: str, act: Callable[[], Any]
) -> bool:
    """Runs one service call; a refusal (409, 400) is shown on the page instead of a 500."""
    try:
        act()
    except ApplicationError as error:
        detail = "; ".join(f"{k}: {', '.join(v)}" for k, v in (error.fields or {}).items())
        page.message_user(
            request,
            f"{label}: {error.message}" + (f" ({detail})" if detail else ""),
            messages.ERROR,
        )
        return False
    return True


def _set_target(event: Event, target: ProductionTarget | AssemblyTarget) -> None:
    if isinstance(target, ProductionTarget):
        catalogue.set_production_target(
            event.community, event.pk, target.item_id, target_batches=target.target_batches
        )
    else:
        catalogue.set_assembly_target(
            event.community, event.pk, target.bundle_id, target_quantity=target.target_quantity
        )


def _remove_target(event: Event, target: ProductionTarget | AssemblyTarget) -> None:
    if isinstance(target, ProductionTarget):
        catalogue.remove_production_target(event.community, event.pk, target.item_id)
    else:
        catalogue.remove_assembly_target(event.community, event.pk, target.bundle_id)


# --- events ------------------------------------------------------------------------------------


class SameCommunityFormSet(BaseInlineFormSet):
    """Rows may only pick items and bundles of the parent's community (the service would
    refuse others; said here, on the form, instead)."""

    def clean(self) -> None:
        super().clean()
        community_id = getattr(self.instance, "community_id", None)
        for form in self.forms:
            data = getattr(form, "cleaned_data", None) or {}
            for field in ("item", "bundle"):
                picked = data.get(field)
                if picked is not None and picked.community_id != community_id:
                    form.add_error(
                        field,
                        f"Not an {field} of this community."
                        if field == "item"
                        else "Not a bundle of this community.",
                    )


class ProductionTargetInline(CommunityScopedInline, admin.TabularInline):
    model = ProductionTarget
    formset = SameCommunityFormSet
    extra = 0
    readonly_fields = ["completed_at"]


class AssemblyTargetInline(CommunityScopedInline, admin.TabularInline):
    model = AssemblyTarget
    formset = SameCommunityFormSet
    extra = 0
    readonly_fields = ["completed_at"]


class EventForm(forms.ModelForm):
    class Meta:
        model = Event
        fields = ["community", "name", "starts_on", "ends_on", "description", "status"]

    def clean_status(self) -> str:
        """The service's status moves, checked while the page can still show the problem."""
        status: str = self.cleaned_data["status"]
        before = self.instance.status if self.instance.pk else None
        if before is not None and status != before and status not in catalogue.STATUS_MOVES[before]:
            raise forms.ValidationError(f"A {before} event cannot become {status}.")
        return status


@admin.register(Event)
class EventAdmin(CommunityScoped):
    form = EventForm
    list_display = ["name", "community", "starts_on", "ends_on", "status", "completed_at"]
    list_filter = [MyCommunitiesFilter, "status"]
    search_fields = ["name"]
    list_select_related = ["community"]
    readonly_fields = ["completed_at"]
    inlines = [ProductionTargetInline, AssemblyTargetInline]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return ["community", "completed_at"] if obj is not None else ["completed_at"]

    def save_model(self, request: HttpRequest, obj: Event, form: Any, change: bool) -> None:
        data = {k: form.cleaned_data[k] for k in ("name", "starts_on", "ends_on", "description")}
        if change:
            changes = catalogue.EventChanges(**data, status=form.cleaned_data["status"])
            saved = catalogue.update_event(obj.community, obj.pk, changes)
        else:
            saved = catalogue.create_event(obj.community, **data, status=obj.status)
        obj.pk, obj._state.adding = saved.pk, False

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        event = form.instance
        for formset in formsets:
            formset.save(commit=False)  # nothing written: the service writes below
            for target in [*formset.new_objects, *(o for o, _ in formset.changed_objects)]:
                _report(self, request, str(target), partial(_set_target, event, target))
            for target in formset.deleted_objects:
                _report(self, request, str(target), partial(_remove_target, event, target))

    def delete_model(self, request: HttpRequest, obj: Event) -> None:
        _report(self, request, obj.name, partial(catalogue.delete_event, obj.community, obj.pk))

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet) -> None:
        for event in queryset.select_related("community"):
            self.delete_model(request, event)


# --- items and bundles -------------------------------------------------------------------------


@admin.register(Item)
class ItemAdmin(CommunityScoped):
    list_display = ["name", "community", "yield_per_batch", "unit"]
    list_filter = [MyCommunitiesFilter]
    search_fields = ["name"]
    list_select_related = ["community"]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return ["community"] if obj is not None else []

    def save_model(self, request: HttpRequest, obj: Item, form: Any, change: bool) -> None:
        if change:
            catalogue.update_item(
                obj.community,
                obj.pk,
                name=obj.name,
                yield_per_batch=obj.yield_per_batch,
                unit=obj.unit,
            )
        else:
            obj.pk = catalogue.create_item(
                obj.community, name=obj.name, yield_per_batch=obj.yield_per_batch, unit=obj.unit
            ).pk
            obj._state.adding = False

    def delete_model(self, request: HttpRequest, obj: Item) -> None:
        _report(self, request, obj.name, partial(catalogue.delete_item, obj.community, obj.pk))

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet) -> None:
        for item in queryset.select_related("community"):
            self.delete_model(request, item)


class ComponentInline(CommunityScopedInline, admin.TabularInline):
    model = BundleComponent
    formset = SameCommunityFormSet
    extra = 0
    min_num = 1
    validate_min = True


@admin.register(Bundle)
class BundleAdmin(CommunityScoped):
    list_display = ["name", "community", "description"]
    list_filter = [MyCommunitiesFilter]
    search_fields = ["name"]
    list_select_related = ["community"]
    inlines = [ComponentInline]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return ["community"] if obj is not None else []

    def save_model(self, request: HttpRequest, obj: Bundle, form: Any, change: bool) -> None:
        """Saved with its components in `save_related`, through the service."""

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        bundle = form.instance
        components: dict[int | str, int] = {}
        for formset in formsets:
            formset.save(commit=False)
            for row in formset.cleaned_data:
                if row and not row.get("DELETE"):
                    components[row["item"].pk] = row["quantity"]
        if change:
            catalogue.update_bundle(
                bundle.community,
                bundle.pk,
                name=bundle.name,
                description=bundle.description,
                components=components,
            )
        else:
            saved = catalogue.create_bundle(
                bundle.community,
                name=bundle.name,
                description=bundle.description,
                components=components,
            )
            bundle.pk, bundle._state.adding = saved.pk, False

    def delete_model(self, request: HttpRequest, obj: Bundle) -> None:
        _report(self, request, obj.name, partial(catalogue.delete_bundle, obj.community, obj.pk))

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet) -> None:
        for bundle in queryset.select_related("community"):
            self.delete_model(request, bundle)


# --- runs and deliveries -----------------------------------------------------------------------


class VoidForm(ActionForm):
    reason = forms.CharField(required=False, max_length=500, label="Void reason")


class RunAdmin(CommunityScoped):
    """Read-only: a run is corrected by voiding it with a reason, never edited or deleted."""

    community_lookup = "event__community"
    action_form = VoidForm
    actions = ["void_runs"]
    list_filter = ["voided_at"]
    list_select_related = ["event", "event__community"]
    void: Callable[..., Any] = staticmethod(runs.void_production_run)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.action(description="Void the selected runs (give a reason)", permissions=["moderate"])
    def void_runs(self, request: HttpRequest, queryset: QuerySet) -> None:
        reason = request.POST.get("reason", "").strip()
        if not reason:
            self.message_user(request, "A void needs a reason.", messages.ERROR)
            return
        for run in queryset.select_related("event__community"):
            act = partial(
                type(self).void,
                run.event.community,
                run.event_id,
                run.pk,
                reason=reason,
                voided_by=f"user:{request.user.pk}",
            )
            done = _report(self, request, f"run {run.pk}", act)
            if done:
                self.message_user(request, f"run {run.pk} voided", messages.SUCCESS)


@admin.register(ProductionRun)
class ProductionRunAdmin(RunAdmin):
    list_display = [
        "pk",
        "event",
        "item",
        "batches",
        "actual_yield",
        "recorded_by",
        "recorded_at",
        "voided_at",
        "void_reason",
    ]
    search_fields = ["recorded_by", "client_run_id"]
    void = staticmethod(runs.void_production_run)


@admin.register(AssemblyRun)
class AssemblyRunAdmin(RunAdmin):
    list_display = [
        "pk",
        "event",
        "bundle",
        "quantity",
        "recorded_by",
        "recorded_at",
        "voided_at",
        "void_reason",
    ]
    search_fields = ["recorded_by", "client_run_id"]
    void = staticmethod(runs.void_assembly_run)


@admin.register(Delivery)
class DeliveryAdmin(CommunityScoped):
    community_lookup = "event__community"
    list_display = ["pk", "event", "recipient", "bundle", "quantity", "status", "delivered_at"]
    list_filter = ["status"]
    search_fields = ["recipient"]
    list_select_related = ["event", "bundle"]
    actions = ["mark_ready", "mark_delivered"]
    fields = ["event", "recipient", "bundle", "quantity", "note"]

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return obj is None and super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        from communities.admin_access import community_ids_where
        from communities.permissions import Action

        ids = community_ids_where(request, Action.MODERATE)
        if db_field.name == "event" and ids is not None:
            kwargs["queryset"] = Event.objects.filter(community__in=ids)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def save_model(self, request: HttpRequest, obj: Delivery, form: Any, change: bool) -> None:
        saved = deliveries.create_delivery(
            obj.event.community,
            obj.event_id,
            recipient=obj.recipient,
            bundle_ref=obj.bundle_id,
            quantity=obj.quantity,
            note=obj.note,
        )
        obj.pk, obj._state.adding = saved.pk, False

    def _move(self, request: HttpRequest, queryset: QuerySet, status: str) -> None:
        for delivery in queryset.select_related("event__community"):
            act = partial(
                deliveries.advance_delivery,
                delivery.event.community,
                delivery.event_id,
                delivery.pk,
                status=status,
            )
            if _report(self, request, f"delivery {delivery.pk}", act):
                self.message_user(request, f"delivery {delivery.pk}: {status}", messages.SUCCESS)

    @admin.action(description="Mark ready", permissions=["moderate"])
    def mark_ready(self, request: HttpRequest, queryset: QuerySet) -> None:
        self._move(request, queryset, DeliveryStatus.READY)

    @admin.action(description="Mark delivered", permissions=["moderate"])
    def mark_delivered(self, request: HttpRequest, queryset: QuerySet) -> None:
        self._move(request, queryset, DeliveryStatus.DELIVERED)
