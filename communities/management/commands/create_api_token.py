"""`manage.py create_api_token <community-slug> --name NAME --scopes ingest,vote,read,admin`."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from communities.errors import ApplicationError
from communities.models import Scope
from communities.selectors import get_community
from communities.services import create_api_token


def describe(error: ApplicationError) -> str:
    details = "; ".join(
        f"{field}: {', '.join(problems)}" for field, problems in (error.fields or {}).items()
    )
    return f"{error.message} {details}".strip()


class Command(BaseCommand):
    help = "Issues an API token for a community's bot and prints its secret, once."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("community", metavar="community-slug")
        parser.add_argument("--name", required=True, help="what the token is for, e.g. chat-bot")
        parser.add_argument(
            "--scopes", required=True, help=f"comma-separated, from {','.join(Scope.values)}"
        )

    def handle(self, *args: Any, community: str, name: str, scopes: str, **options: Any) -> None:
        try:
            issued = create_api_token(
                community=get_community(community), name=name, scopes=scopes.split(",")
            )
        except ApplicationError as exc:
            raise CommandError(describe(exc)) from exc
        token = issued.token
        self.stdout.write(
            f"Created token {token.name!r} for {token.community.slug} "
            f"(prefix {token.prefix}, scopes {','.join(token.scopes)})."
        )
        self.stdout.write("Copy the secret now; it is not stored and will not be shown again:")
        self.stdout.write(issued.secret)
