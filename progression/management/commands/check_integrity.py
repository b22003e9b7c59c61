from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from communities.errors import NotFound
from communities.selectors import get_community
from progression.integrity import check_integrity


class Command(BaseCommand):
    help = "Check points conservation and the one-unlock/one-progress/one-vote rules."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("community")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            community = get_community(options["community"])
        except NotFound as exc:
            raise CommandError(exc.message) from None
        breaches = check_integrity(community)
        if breaches:
            for breach in breaches:
                self.stderr.write(f"BREACH {breach}")
            raise CommandError(f"{len(breaches)} integrity breach(es) in {community.slug}")
        self.stdout.write(f"{community.slug}: integrity OK")
