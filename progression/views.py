"""Pages: the viewer dashboard and the OBS overlay. Both render a shell; the data comes from the
JSON API and the stream (static/js/stream.js), so the pages never disagree with bots."""

from __future__ import annotations

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.clickjacking import xframe_options_exempt

from communities.errors import NotFound
from communities.models import Community
from communities.permissions import Action, can
from communities.selectors import actor_for_user, get_community
from progression.selectors import dashboard_snapshot


def _readable(request: HttpRequest, slug: str) -> Community:
    try:
        community = get_community(slug)
    except NotFound:
        raise Http404("No such community") from None
    if not can(actor_for_user(request.user), Action.READ, community):
        raise Http404("No such community")  # private communities are not advertised
    return community


def dashboard(request: HttpRequest, slug: str) -> HttpResponse:
    community = _readable(request, slug)
    can_vote = can(actor_for_user(request.user), Action.VOTE, community)
    return render(
        request,
        "progression/dashboard.html",
        {"community": community, "can_vote": can_vote, "snapshot": dashboard_snapshot(community)},
    )


@xframe_options_exempt  # OBS browser sources and embeds show it in a frame
def overlay(request: HttpRequest, slug: str) -> HttpResponse:
    return render(request, "progression/overlay.html", {"community": _readable(request, slug)})
