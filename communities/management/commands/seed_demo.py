"""`manage.py seed_demo`: a public demo community, its owner (who can use /admin/), a bot token.

Safe to run again: whatever exists is left alone, and each secret is printed only the one
time it is created. Everything is written in one transaction, so a failure writes nothing.
"""

from __future__ import annotations

import secrets
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission, User
from django.core.management.base import BaseCommand
from django.db import transaction
from django.db.models import Q

from communities import services
from communities.errors import NotFound
from communities.models import ApiToken, Community, Membership, Role, Scope, Visibility
from communities.selectors import get_community

SLUG = "demo"
NAME = "Demo Stream"
USERNAME = "demo"
TOKEN_NAME = "demo-bot"
TOKEN_SCOPES = (Scope.INGEST, Scope.VOTE, Scope.READ)
DEBUG_PASSWORD = "progression-demo"


def demo_password() -> str:
    if settings.DEMO_PASSWORD:
        return settings.DEMO_PASSWORD
    return DEBUG_PASSWORD if settings.DEBUG else secrets.token_urlsafe(16)


def owner_permissions() -> list[Permission]:
    """Everything on communities, memberships and tokens, plus looking users up to add them.
    The progression pages need none of these rows: they ask `communities.permissions` (staff
    plus the owner membership is what opens them; see `communities.admin_access`)."""
    return list(
        Permission.objects.filter(
            Q(content_type__app_label="communities")
            | Q(content_type__app_label="auth", codename="view_user")
        )
    )


def ensure_owner() -> tuple[User, str | None]:
    user_model = get_user_model()
    user = user_model.objects.filter(**{user_model.USERNAME_FIELD: USERNAME}).first()
    if user is not None:
        return user, None
    password = demo_password()
    user = user_model.objects.create_user(USERNAME, password=password, is_staff=True)
    user.user_permissions.add(*owner_permissions())
    return user, password


def ensure_community() -> tuple[Community, bool]:
    try:
        return get_community(SLUG), False
    except NotFound:
        return services.create_community(slug=SLUG, name=NAME, visibility=Visibility.PUBLIC), True


def ensure_membership(community: Community, user: User) -> bool:
    if Membership.objects.filter(community=community, user=user).exists():
        return False
    services.set_membership(community=community, user=user, role=Role.OWNER)
    return True


def ensure_token(community: Community, owner: User) -> tuple[ApiToken, str | None]:
    active = ApiToken.objects.filter(community=community, name=TOKEN_NAME, revoked_at__isnull=True)
    token = active.first()
    if token is not None:
        return token, None
    issued = services.create_api_token(
        community=community, name=TOKEN_NAME, scopes=TOKEN_SCOPES, created_by=owner
    )
    return issued.token, issued.secret


def load_demo_tree(community: Community) -> Any:
    """Loads the demo tree into a community that has no tree yet (never over a streamer's own)
    and chooses its first target, so a fresh demo has something to unlock at once."""
    from django.conf import settings

    from progression.models import Node
    from progression.services.tree import sync_tree
    from progression.services.voting import choose_first_target
    from progression.tree_schema import read_tree_file

    if Node.objects.filter(community=community).exists():
        return None
    report = sync_tree(
        community, read_tree_file(settings.BASE_DIR / "progression" / "demo" / "tree.yaml")
    )
    choose_first_target(community)  # the demo opens with something to unlock
    return report


def load_demo_event(community: Community) -> Any:
    """Loads the demo bake-along (events_app/demo/bake_along.yaml) into a community that has no
    events yet, so the events pages and the `events` topic have something to show."""
    from django.conf import settings

    from events_app.event_file import read_event_file
    from events_app.models import Event
    from events_app.services.loading import load_event

    if Event.objects.filter(community=community).exists():
        return None
    path = settings.BASE_DIR / "events_app" / "demo" / "bake_along.yaml"
    return load_event(community, read_event_file(path, community))


class Command(BaseCommand):
    help = "Creates the demo community, its owner and a bot token; safe to run again."

    def handle(self, *args: Any, **options: Any) -> None:
        with transaction.atomic():
            user, password = ensure_owner()
            community, community_created = ensure_community()
            membership_created = ensure_membership(community, user)
            token, secret = ensure_token(community, user)
        tree_report = load_demo_tree(community)
        event_report = load_demo_event(community)
        # Printed only after commit: a secret for a rolled-back token would be useless.
        if tree_report is not None:
            self.stdout.write(f"loaded the demo tree: {len(tree_report.created)} nodes")
        if event_report is not None:
            self.stdout.write(f"loaded the demo event: {len(event_report.created)} rows")
        if community_created:
            self.stdout.write(f"created community {community.slug} ({community.name}, public)")
        if membership_created:
            self.stdout.write(f"{user.get_username()} is now owner of {community.slug}")
        if password is not None:
            self.stdout.write(f"demo login: {user.get_username()} / {password}  (at /admin/)")
        if secret is not None:
            self.stdout.write(f"demo ingest token: {secret}")
            self.stdout.write("Copy it now; the secret is not stored and will not be shown again.")
        if not (
            community_created
            or membership_created
            or password
            or secret
            or tree_report
            or event_report
        ):
            self.stdout.write(
                f"Demo already exists: user {user.get_username()}, community {community.slug}, "
                f"token {token.name} ({token.prefix}…). Nothing changed."
            )
            self.stdout.write(
                "The token's secret was shown only when it was created. For a new one: "
                f"manage.py create_api_token {community.slug} --name NAME "
                f"--scopes {','.join(TOKEN_SCOPES)}"
            )
