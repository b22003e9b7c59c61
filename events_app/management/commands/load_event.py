from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from communities.errors import ApplicationError, InvalidInput
from communities.models import Community
from events_app.event_file import read_event_file
from events_app.services.loading import load_event


class Command(BaseCommand):
    help = (
        "Validate an event file (YAML or JSON) and set the event up in a community: the event, "
        "its items, bundles, targets and deliveries, upserted by name. Nothing is written if "
        "the file has any problem; every problem is printed with its location."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("community", help="the community's slug")
        parser.add_argument("file", help="a .yaml, .yml or .json event file")

    def handle(self, *args: Any, **options: Any) -> None:
        community = Community.objects.filter(slug=options["community"]).first()
        if community is None:
            raise CommandError(f"No community with slug {options['community']!r}.")
        try:
            report = load_event(community, read_event_file(options["file"], community))
        except InvalidInput as error:
            for location, messages in (error.fields or {}).items():
                for message in messages:
                    self.stderr.write(f"{location}: {message}")
            raise CommandError(f"{options['file']}: {error.message}") from None
        except ApplicationError as error:
            raise CommandError(f"{options['file']}: {error.message}") from None
        for label, rows in (("created", report.created), ("updated", report.updated)):
            self.stdout.write(f"{len(rows)} {label}{': ' if rows else ''}{', '.join(rows)}")
        self.stdout.write(f"{len(report.unchanged)} unchanged")
        if report.changed:
            self.stdout.write(self.style.SUCCESS(f"Event {report.event_id} loaded."))
        else:
            self.stdout.write(
                self.style.SUCCESS(f"Event {report.event_id} was already up to date.")
            )
