"""Applies a validated event file (`events_app.event_file`) through the catalogue services.

Everything runs in one transaction: the file was checked as a whole before, and a refusal
here (a status change the event may not make) rolls the whole load back. Only what differs
is written, so loading the same file twice changes nothing (and publishes nothing) the second
time. Upsert keys: the event by name + starts_on, items and bundles by name, targets by their
item or bundle, deliveries by recipient + bundle (a delivery already there is left as is).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from django.db import transaction

from communities.models import Community
from events_app.event_file import BundleSpec, EventFile, ItemSpec
from events_app.models import AssemblyTarget, Bundle, Event, Item, ProductionTarget
from events_app.services import catalogue, deliveries

logger = logging.getLogger(__name__)


@dataclass
class LoadReport:
    event_id: int = 0
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.created or self.updated)


@transaction.atomic
def load_event(community: Community, spec: EventFile) -> LoadReport:
    report = LoadReport()
    items = {spec_item.name: _item(community, spec_item, report) for spec_item in spec.items}
    items |= {i.name: i for i in Item.objects.filter(community=community) if i.name not in items}
    for spec_bundle in spec.bundles:
        _bundle(community, spec_bundle, items, report)
    bundles = {b.name: b for b in Bundle.objects.filter(community=community)}
    event = _event(community, spec, report)
    report.event_id = event.pk
    _targets(community, event, spec, items, bundles, report)
    _deliveries(community, event, spec, bundles, report)
    logger.info(
        "community %s: event %s loaded (%d created, %d updated)",
        community.pk,
        event.pk,
        len(report.created),
        len(report.updated),
    )
    return report


def _item(community: Community, spec: ItemSpec, report: LoadReport) -> Item:
    found = Item.objects.filter(community=community, name=spec.name).first()
    label = f"item {spec.name}"
    if found is None:
        report.created.append(label)
        return catalogue.create_item(
            community, name=spec.name, yield_per_batch=spec.yield_per_batch, unit=spec.unit
        )
    if (found.yield_per_batch, found.unit) == (spec.yield_per_batch, spec.unit):
        report.unchanged.append(label)
        return found
    report.updated.append(label)
    return catalogue.update_item(
        community, found.pk, yield_per_batch=spec.yield_per_batch, unit=spec.unit
    )


def _bundle(
    community: Community, spec: BundleSpec, items: dict[str, Item], report: LoadReport
) -> None:
    wanted: dict[int | str, int] = {items[name].pk: q for name, q in spec.components.items()}
    found = Bundle.objects.filter(community=community, name=spec.name).first()
    label = f"bundle {spec.name}"
    if found is None:
        catalogue.create_bundle(
            community, name=spec.name, description=spec.description, components=wanted
        )
        report.created.append(label)
        return
    have = dict(found.components.values_list("item_id", "quantity"))
    if have == wanted and found.description == spec.description:
        report.unchanged.append(label)
        return
    catalogue.update_bundle(community, found.pk, description=spec.description, components=wanted)
    report.updated.append(label)


def _event(community: Community, spec: EventFile, report: LoadReport) -> Event:
    s = spec.event
    found = Event.objects.filter(community=community, name=s.name, starts_on=s.starts_on).first()
    label = f"event {s.name} ({s.starts_on})"
    if found is None:
        report.created.append(label)
        return catalogue.create_event(
            community,
            name=s.name,
            starts_on=s.starts_on,
            ends_on=s.ends_on,
            description=s.description,
            status=s.status,
        )
    if (found.ends_on, found.description, found.status) == (s.ends_on, s.description, s.status):
        report.unchanged.append(label)
        return found
    report.updated.append(label)
    changes = catalogue.EventChanges(ends_on=s.ends_on, description=s.description, status=s.status)
    return catalogue.update_event(community, found.pk, changes)


def _targets(
    community: Community,
    event: Event,
    spec: EventFile,
    items: dict[str, Item],
    bundles: dict[str, Bundle],
    report: LoadReport,
) -> None:
    have_prod = dict(
        ProductionTarget.objects.filter(event=event).values_list("item_id", "target_batches")
    )
    for name, batches in spec.production_targets.items():
        item = items[name]
        label = f"production target {name}"
        if have_prod.get(item.pk) == batches:
            report.unchanged.append(label)
            continue
        (report.updated if item.pk in have_prod else report.created).append(label)
        catalogue.set_production_target(community, event.pk, item.pk, target_batches=batches)
    have_asm = dict(
        AssemblyTarget.objects.filter(event=event).values_list("bundle_id", "target_quantity")
    )
    for name, quantity in spec.assembly_targets.items():
        bundle = bundles[name]
        label = f"assembly target {name}"
        if have_asm.get(bundle.pk) == quantity:
            report.unchanged.append(label)
            continue
        (report.updated if bundle.pk in have_asm else report.created).append(label)
        catalogue.set_assembly_target(community, event.pk, bundle.pk, target_quantity=quantity)


def _deliveries(
    community: Community,
    event: Event,
    spec: EventFile,
    bundles: dict[str, Bundle],
    report: LoadReport,
) -> None:
    existing = set(event.deliveries.values_list("recipient", "bundle_id"))
    for d in spec.deliveries:
        bundle = bundles[d.bundle]
        label = f"delivery to {d.recipient} ({d.bundle})"
        if (d.recipient, bundle.pk) in existing:
            report.unchanged.append(label)
            continue
        deliveries.create_delivery(
            community,
            event.pk,
            recipient=d.recipient,
            bundle_ref=bundle.pk,
            quantity=d.quantity,
            note=d.note,
        )
        existing.add((d.recipient, bundle.pk))
        report.created.append(label)
