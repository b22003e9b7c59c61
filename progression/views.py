"""Pages: the viewer dashboard, the OBS overlay and the moderator console. Each renders a
shell; the data comes from the JSON API and the stream (static/js/stream.js), so the pages never
disagree with bots, and every write of the console goes through the same API with the session
and its CSRF token."""

from __future__ import annotations

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.clickjacking import xframe_options_exempt
from django.views.decorators.csrf import ensure_csrf_cookie

from communities.errors import InvalidCredentials, NotFound
from communities.models import Community
from communities.permissions import Action, Actor, can, knows_of
from communities.selectors import actor_for_overlay_key, actor_for_user, get_community
from communities.services import authenticate_overlay_key
from config.edge import RateLimited, failed_auth, request_client_address
from progression.overlay_options import parse_overlay_options
from progression.selectors import dashboard_snapshot


def _community_for(actor: Actor, slug: str, action: Action) -> Community:
    try:
        community = get_community(slug)
    except NotFound:
        raise Http404("No such community") from None
    if not can(actor, action, community):
        raise Http404("No such community")  # private communities are not advertised
    return community


@ensure_csrf_cookie  # votes and suggestions go through the JSON API with the session + CSRF
def dashboard(request: HttpRequest, slug: str) -> HttpResponse:
    actor = actor_for_user(request.user)
    community = _community_for(actor, slug, Action.READ)
    context = {
        "community": community,
        "can_vote": can(actor, Action.VOTE, community),
        "can_suggest": can(actor, Action.SUGGEST, community),
        "snapshot": dashboard_snapshot(community),
    }
    return render(request, "progression/dashboard.html", context)


def _overlay_actor(request: HttpRequest) -> Actor:
    """The overlay key in the URL (`?key=`), else the session. A wrong or revoked key is the
    404 of an unknown page (counted against the address, like a wrong API token)."""
    raw = request.GET.get("key")
    if raw is None:
        return actor_for_user(request.user)
    address = request_client_address(request)
    failed_auth.check(address)
    try:
        return actor_for_overlay_key(authenticate_overlay_key(raw))
    except InvalidCredentials:
        failed_auth.failed(address)
        raise Http404("No such community") from None


@xframe_options_exempt  # OBS browser sources and embeds show it in a frame
def overlay(request: HttpRequest, slug: str) -> HttpResponse:
    try:
        actor = _overlay_actor(request)
    except RateLimited as exc:
        return HttpResponse(exc.message, status=429, content_type="text/plain")
    community = _community_for(actor, slug, Action.READ_PROGRESSION)
    options = parse_overlay_options(request.GET)
    context = {"community": community, "options": options, "key": request.GET.get("key", "")}
    return render(request, "progression/overlay.html", context)


@ensure_csrf_cookie  # the console writes through the JSON API with the session + CSRF token
def console(request: HttpRequest, slug: str) -> HttpResponse:
    """Owners and moderators. Outsiders of a private community get its 404; a visitor who is
    not signed in is sent to sign in; a signed-in viewer without the role gets a 403."""
    actor = actor_for_user(request.user)
    try:
        community = get_community(slug)
    except NotFound:
        raise Http404("No such community") from None
    if not can(actor, Action.MODERATE, community):
        if not knows_of(actor, community):
            raise Http404("No such community")
        if actor.is_anonymous:
            return redirect_to_login(request.get_full_path())
        raise PermissionDenied("Only the community's owners and moderators run its console.")
    context = {
        "community": community,
        "can_manage": can(actor, Action.MANAGE, community),
    }
    return render(request, "progression/console.html", context)
