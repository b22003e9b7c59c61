"""Every change to a row the engine caches drops that cache in every process, whoever made it.

Services invalidate explicitly too (bulk writes and `.update()` send no signals), but a row
saved or deleted any other way (the admin, a shell's `.save()`, a data migration) must reach
the servers as well: these receivers bump the shared version after commit
(`progression.cache`), so every process reloads within `CHECK_SECONDS`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db.models import Model
from django.db.models.signals import post_delete, post_save

from progression import cache
from progression.models import EngagementWeight, Node, Prerequisite, ProgressionSettings, Unlock
from progression.services.state import settings_key
from progression.tree_state import rules_key
from progression.weights import weights_key


def _weights_changed(sender: Any, instance: EngagementWeight, **kwargs: Any) -> None:
    cache.invalidate_on_commit(weights_key(instance.community_id))


def _settings_changed(sender: Any, instance: ProgressionSettings, **kwargs: Any) -> None:
    cache.invalidate_on_commit(settings_key(instance.community_id))


def _tree_changed(sender: Any, instance: Node | Unlock, **kwargs: Any) -> None:
    cache.invalidate_on_commit(rules_key(instance.community_id))


def _prerequisite_changed(sender: Any, instance: Prerequisite, **kwargs: Any) -> None:
    community_id = (
        Node.objects.filter(pk=instance.node_id).values_list("community_id", flat=True).first()
    )
    if community_id is not None:  # otherwise the node itself is being deleted: its own signal
        cache.invalidate_on_commit(rules_key(community_id))


def connect() -> None:
    receivers: list[tuple[type[Model], Callable[..., None]]] = [
        (EngagementWeight, _weights_changed),
        (ProgressionSettings, _settings_changed),
        (Node, _tree_changed),
        (Unlock, _tree_changed),
        (Prerequisite, _prerequisite_changed),
    ]
    for model, receiver in receivers:
        for name, signal in (("save", post_save), ("delete", post_delete)):
            signal.connect(receiver, sender=model, dispatch_uid=f"cache:{model.__name__}:{name}")
