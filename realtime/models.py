from __future__ import annotations

from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.utils import timezone

from communities.models import Community
from realtime.topics import ALL_TOPICS


class Stream(models.Model):
    """A community's event sequence.

    Publishing locks this row for the rest of the writer's transaction, so ids are handed out
    in commit order with no holes: a client that has seen id n can trust that every committed
    event it may read with an id below n is already in the outbox. `head_<topic>` remember the
    last id per topic so each event can carry the heads before it (`prev`), which lets a
    listener spot a missing event without asking the database.
    """

    community = models.OneToOneField(
        Community, on_delete=models.CASCADE, primary_key=True, related_name="stream"
    )
    last_id = models.BigIntegerField(default=0)
    pruned_through = models.BigIntegerField(default=0)
    head_progression = models.BigIntegerField(default=0)
    head_events = models.BigIntegerField(default=0)
    head_jobs = models.BigIntegerField(default=0)
    head_board = models.BigIntegerField(default=0)
    head_admin = models.BigIntegerField(default=0)

    def __str__(self) -> str:
        return f"stream of {self.community_id} at {self.last_id}"

    def heads(self) -> dict[str, int]:
        return {topic: getattr(self, f"head_{topic}") for topic in ALL_TOPICS}


class OutboxEvent(models.Model):
    """One published event, written in the same transaction as the change it describes."""

    community = models.ForeignKey(Community, on_delete=models.CASCADE, related_name="+")
    event_id = models.BigIntegerField()
    topic = models.CharField(max_length=20)
    type = models.CharField(max_length=80)
    data = models.JSONField(default=dict, encoder=DjangoJSONEncoder)
    prev = models.JSONField(default=dict)
    coalesce_key = models.CharField(max_length=120, blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)
    dispatched_at = models.DateTimeField(null=True, blank=True)
    claimed_until = models.DateTimeField(null=True, blank=True)  # a relay's lease while it sends

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["community", "event_id"], name="outbox_event_id_unique"
            ),
        ]
        indexes = [
            models.Index(fields=["community", "topic", "event_id"], name="outbox_topic_replay"),
            models.Index(
                fields=["created_at"],
                name="outbox_undispatched",
                condition=models.Q(dispatched_at__isnull=True),
            ),
            models.Index(fields=["created_at"], name="outbox_created"),
        ]

    def __str__(self) -> str:
        return f"{self.community_id}#{self.event_id} {self.type}"
