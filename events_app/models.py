"""Events of a community: what it commits to produce, assemble and deliver, and what it recorded.

Runs are never deleted or edited: a wrong run is voided with a reason (kept for audit), so every
figure can be re-derived from the rows. An assembly run stores what it consumed per item
(`AssemblyConsumption`), so editing a bundle's bill of materials later never changes history.
Progress itself is never stored: `events_app/progress.py` derives it from these rows' sums. The
sums are kept as running totals (`EventItemTotals`, `EventBundleTotals`) by the write services
in the transaction of each write, under the event's lock (`events_app/services/totals.py`), so
a list of events reads them instead of summing every run; the runs stay the record they are
re-derived from (`totals.recount`). The other stored facts are the `completed_at` marks that
make "completed" events exactly-once.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone

from communities.models import ApiToken, Community


class EventStatus(models.TextChoices):
    PLANNED = "planned", "Planned"
    LIVE = "live", "Live"
    CLOSED = "closed", "Closed"
    CANCELLED = "cancelled", "Cancelled"


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    READY = "ready", "Ready"
    DELIVERED = "delivered", "Delivered"


class Event(models.Model):
    community = models.ForeignKey(Community, on_delete=models.CASCADE, related_name="events")
    name = models.CharField(max_length=120)
    starts_on = models.DateField()
    ends_on = models.DateField()
    description = models.TextField(blank=True, default="")
    status = models.CharField(
        max_length=10, choices=EventStatus.choices, default=EventStatus.PLANNED
    )
    # Set when the event first became complete (all targets complete); cleared if a void
    # takes it back. Guards `events.event.completed` to exactly once per completion.
    completed_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["starts_on", "name", "id"]
        indexes = [
            models.Index(fields=["community", "starts_on", "name", "id"], name="event_list_order"),
            models.Index(fields=["community", "ends_on"], name="event_community_ends_on"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["community", "name", "starts_on"], name="event_name_date_unique"
            ),
            models.CheckConstraint(condition=Q(ends_on__gte=F("starts_on")), name="event_dates"),
            models.CheckConstraint(
                condition=Q(status__in=EventStatus.values), name="event_status_known"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.starts_on})"


class Item(models.Model):
    """Something produced in batches: one batch yields `yield_per_batch` units ("cookies")."""

    community = models.ForeignKey(Community, on_delete=models.CASCADE, related_name="event_items")
    name = models.CharField(max_length=120)
    unit = models.CharField(max_length=40, blank=True, default="")
    yield_per_batch = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            models.UniqueConstraint(fields=["community", "name"], name="item_name_unique"),
            models.CheckConstraint(condition=Q(yield_per_batch__gt=0), name="item_yield_positive"),
        ]

    def __str__(self) -> str:
        return self.name


class Bundle(models.Model):
    """Assembled from items by its bill of materials (`components`)."""

    community = models.ForeignKey(Community, on_delete=models.CASCADE, related_name="event_bundles")
    name = models.CharField(max_length=120)
    description = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            models.UniqueConstraint(fields=["community", "name"], name="bundle_name_unique"),
        ]

    def __str__(self) -> str:
        return self.name


class BundleComponent(models.Model):
    bundle = models.ForeignKey(Bundle, on_delete=models.CASCADE, related_name="components")
    item = models.ForeignKey(Item, on_delete=models.PROTECT, related_name="used_in")
    quantity = models.PositiveIntegerField()

    class Meta:
        ordering = ["bundle", "item"]
        constraints = [
            models.UniqueConstraint(fields=["bundle", "item"], name="bundle_component_unique"),
            models.CheckConstraint(condition=Q(quantity__gt=0), name="component_qty_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.bundle_id}: {self.quantity} × {self.item_id}"


class ProductionTarget(models.Model):
    event = models.ForeignKey(Event, on_delete=models.CASCADE, related_name="production_targets")
    item = models.ForeignKey(Item, on_delete=models.PROTECT, related_name="production_targets")
    target_batches = models.PositiveIntegerField()
    # Exactly-once guard of `events.target.completed`; cleared by a void that reopens it.
    completed_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["event", "item__name", "id"]
        constraints = [
            models.UniqueConstraint(fields=["event", "item"], name="production_target_unique"),
            models.CheckConstraint(
                condition=Q(target_batches__gt=0), name="production_target_positive"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.event_id}: {self.target_batches} batches of {self.item_id}"


class AssemblyTarget(models.Model):
    event = models.ForeignKey(Event, on_delete=models.CASCADE, related_name="assembly_targets")
    bundle = models.ForeignKey(Bundle, on_delete=models.PROTECT, related_name="assembly_targets")
    target_quantity = models.PositiveIntegerField()
    completed_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["event", "bundle__name", "id"]
        constraints = [
            models.UniqueConstraint(fields=["event", "bundle"], name="assembly_target_unique"),
            models.CheckConstraint(
                condition=Q(target_quantity__gt=0), name="assembly_target_positive"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.event_id}: {self.target_quantity} × {self.bundle_id}"


class RunRecord(models.Model):
    """Who recorded a run, when, under which client id, and whether it was voided."""

    # The person or chat viewer the run is credited to ("!baked 2 cookies" → the viewer).
    recorded_by = models.CharField(max_length=200, blank=True, default="")
    recorded_by_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    recorded_by_token = models.ForeignKey(
        ApiToken, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    recorded_at = models.DateTimeField(default=timezone.now)
    # The caller's idempotency key: a retried POST with the same id records nothing new.
    client_run_id = models.CharField(max_length=100, blank=True, default="")
    voided_at = models.DateTimeField(null=True, blank=True)
    void_reason = models.CharField(max_length=500, blank=True, default="")
    voided_by = models.CharField(max_length=200, blank=True, default="")

    class Meta:
        abstract = True

    @property
    def is_voided(self) -> bool:
        return self.voided_at is not None


class ProductionRun(RunRecord):
    event = models.ForeignKey(Event, on_delete=models.CASCADE, related_name="production_runs")
    item = models.ForeignKey(Item, on_delete=models.PROTECT, related_name="production_runs")
    batches = models.PositiveIntegerField()
    actual_yield = models.PositiveIntegerField()

    class Meta:
        ordering = ["recorded_at", "id"]
        indexes = [models.Index(fields=["event", "item"], name="production_run_event_item")]
        constraints = [
            models.UniqueConstraint(
                fields=["event", "client_run_id"],
                condition=~Q(client_run_id=""),
                name="production_run_client_id_unique",
            ),
            models.CheckConstraint(condition=Q(batches__gt=0), name="production_run_batches"),
            models.CheckConstraint(
                condition=Q(voided_at__isnull=True) | ~Q(void_reason=""),
                name="production_run_void_has_reason",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.event_id}: {self.batches} batches of {self.item_id}"


class AssemblyRun(RunRecord):
    event = models.ForeignKey(Event, on_delete=models.CASCADE, related_name="assembly_runs")
    bundle = models.ForeignKey(Bundle, on_delete=models.PROTECT, related_name="assembly_runs")
    quantity = models.PositiveIntegerField()

    class Meta:
        ordering = ["recorded_at", "id"]
        indexes = [models.Index(fields=["event", "bundle"], name="assembly_run_event_bundle")]
        constraints = [
            models.UniqueConstraint(
                fields=["event", "client_run_id"],
                condition=~Q(client_run_id=""),
                name="assembly_run_client_id_unique",
            ),
            models.CheckConstraint(condition=Q(quantity__gt=0), name="assembly_run_quantity"),
            models.CheckConstraint(
                condition=Q(voided_at__isnull=True) | ~Q(void_reason=""),
                name="assembly_run_void_has_reason",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.event_id}: {self.quantity} × {self.bundle_id}"


class AssemblyConsumption(models.Model):
    """What one assembly run took from one item's produced yield (q × the component quantity
    at the time of the run). Denormalised `event`/`item` keep "available" one grouped query."""

    run = models.ForeignKey(AssemblyRun, on_delete=models.CASCADE, related_name="consumption")
    event = models.ForeignKey(Event, on_delete=models.CASCADE, related_name="+")
    item = models.ForeignKey(Item, on_delete=models.PROTECT, related_name="+")
    quantity = models.PositiveIntegerField()

    class Meta:
        indexes = [models.Index(fields=["event", "item"], name="consumption_event_item")]
        constraints = [
            models.UniqueConstraint(fields=["run", "item"], name="consumption_run_item_unique"),
            models.CheckConstraint(condition=Q(quantity__gt=0), name="consumption_positive"),
        ]

    def __str__(self) -> str:
        return f"run {self.run_id}: {self.quantity} of {self.item_id}"


class Delivery(models.Model):
    event = models.ForeignKey(Event, on_delete=models.CASCADE, related_name="deliveries")
    recipient = models.CharField(max_length=200)
    bundle = models.ForeignKey(Bundle, on_delete=models.PROTECT, related_name="deliveries")
    quantity = models.PositiveIntegerField(default=1)
    status = models.CharField(
        max_length=10, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING
    )
    note = models.CharField(max_length=500, blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["event", "created_at", "id"]
        verbose_name_plural = "deliveries"
        indexes = [models.Index(fields=["event", "status"], name="delivery_event_status")]
        constraints = [
            models.CheckConstraint(condition=Q(quantity__gt=0), name="delivery_qty_positive"),
            models.CheckConstraint(
                condition=Q(status__in=DeliveryStatus.values), name="delivery_status_known"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.event_id}: {self.quantity} × {self.bundle_id} to {self.recipient}"


class EventItemTotals(models.Model):
    """An item's live (non-voided) runs in an event, summed: production runs, batches and yield
    produced; assembly consumption rows and the yield they took. Kept by
    `events_app/services/totals.py` with every run written or voided; one row per item that
    ever had a run or a consumption in the event (counts at 0 once all of them are voided)."""

    event = models.ForeignKey(Event, on_delete=models.CASCADE, related_name="+")
    item = models.ForeignKey(Item, on_delete=models.CASCADE, related_name="+")
    production_runs = models.PositiveIntegerField(default=0)
    produced_batches = models.PositiveBigIntegerField(default=0)
    produced_yield = models.PositiveBigIntegerField(default=0)
    consumptions = models.PositiveIntegerField(default=0)
    consumed = models.PositiveBigIntegerField(default=0)

    class Meta:
        verbose_name_plural = "event item totals"
        constraints = [
            models.UniqueConstraint(fields=["event", "item"], name="event_item_totals_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.event_id}: item {self.item_id}"


class EventBundleTotals(models.Model):
    """A bundle's live assembly runs in an event, summed (kept like `EventItemTotals`)."""

    event = models.ForeignKey(Event, on_delete=models.CASCADE, related_name="+")
    bundle = models.ForeignKey(Bundle, on_delete=models.CASCADE, related_name="+")
    assembly_runs = models.PositiveIntegerField(default=0)
    assembled = models.PositiveBigIntegerField(default=0)

    class Meta:
        verbose_name_plural = "event bundle totals"
        constraints = [
            models.UniqueConstraint(fields=["event", "bundle"], name="event_bundle_totals_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.event_id}: bundle {self.bundle_id}"
