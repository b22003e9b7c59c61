from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from communities.errors import InvalidInput
from communities.models import Community
from progression.services.tree import SyncReport, plan_tree, sync_tree
from progression.tree_schema import read_tree_file


class Command(BaseCommand):
    help = (
        "Validate a tree file (YAML or JSON) and sync it into a community: new nodes inserted, "
        "changed ones updated, nodes with unlocks never deleted. Nothing is written if the file "
        "has any problem; every problem is printed with its location."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("community", help="the community's slug")
        parser.add_argument("file", help="a .yaml, .yml or .json tree file")
        parser.add_argument(
            "--dry-run", action="store_true", help="validate and show the changes, write nothing"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        community = Community.objects.filter(slug=options["community"]).first()
        if community is None:
            raise CommandError(f"No community with slug {options['community']!r}.")
        try:
            tree = read_tree_file(options["file"])
            if options["dry_run"]:
                report = plan_tree(community, tree)
            else:
                report = sync_tree(community, tree)
        except InvalidInput as error:
            for location, messages in (error.fields or {}).items():
                for message in messages:
                    self.stderr.write(f"{location}: {message}")
            raise CommandError(f"{options['file']}: {error.message}") from None
        self._print(report, dry_run=options["dry_run"])

    def _print(self, report: SyncReport, *, dry_run: bool) -> None:
        lines = [
            ("created", report.created),
            ("updated", report.updated),
            ("unchanged", report.unchanged),
            ("removed", report.removed),
            ("kept, not in the file but unlocked before", report.kept_with_unlocks),
            ("kept, not in the file but in use (target, up next, vote)", report.kept_in_use),
        ]
        for label, keys in lines:
            shown = f": {', '.join(keys)}" if keys and label != "unchanged" else ""
            self.stdout.write(f"{len(keys)} {label}{shown}")
        if dry_run:
            self.stdout.write("Dry run: nothing was written.")
        elif not report.changed:
            self.stdout.write(self.style.SUCCESS("The tree was already up to date."))
        else:
            self.stdout.write(self.style.SUCCESS("Tree synced."))
