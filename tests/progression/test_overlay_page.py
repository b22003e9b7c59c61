"""The OBS overlay page: options from its URL, validated, and never injected raw."""

from __future__ import annotations

import pytest

from progression.overlay_options import WIDGETS, is_safe_colour, parse_overlay_options
from tests.factories import CommunityFactory


@pytest.mark.parametrize(
    "colour", ["#fff", "#A78BFA", "#a78bfa80", "rgb(1, 2, 3)", "rgba(10,20,30,0.5)", "gold"]
)
def test_plain_colours_pass(colour):
    assert is_safe_colour(colour)


@pytest.mark.parametrize(
    "colour",
    [
        "red;background:url(https://evil.example/x.png)",
        "url(javascript:alert(1))",
        "expression(alert(1))",
        '"><script>alert(1)</script>',
        "red}</style><script>",
        "var(--x)",
        "#12345",
        "rgb(1,2,3);color:red",
        "calc(1px)",
        "",
    ],
)
def test_anything_but_a_plain_colour_is_refused(colour):
    assert not is_safe_colour(colour)


def test_defaults_show_every_widget_at_the_bottom():
    options = parse_overlay_options({})

    assert (options.widgets, options.position, options.scale) == (WIDGETS, "bottom", 1.0)
    assert options.alert_seconds == 5.0
    assert options.ignored == ()


def test_chosen_widgets_position_scale_and_colours_are_kept():
    options = parse_overlay_options(
        {
            "widgets": "alerts,bar",
            "position": "top-right",
            "scale": "1.5",
            "accent": "#ff0066",
            "alert_seconds": "3",
        }
    )

    assert options.widgets == ("bar", "alerts")
    assert options.position == "top-right"
    assert options.scale == 1.5
    assert options.alert_seconds == 3.0
    assert options.colours == {"--ov-accent": "#ff0066"}
    assert options.style == "--ov-scale: 1.5; --ov-accent: #ff0066"


def test_unusable_values_fall_back_to_defaults_and_are_named():
    options = parse_overlay_options(
        {
            "widgets": "bar,chat",
            "position": "middle",
            "scale": "nan",
            "text": "red;x:y",
            "alert_seconds": "0",
        }
    )

    assert (options.widgets, options.position, options.scale) == (WIDGETS, "bottom", 1.0)
    assert options.colours == {}
    assert set(options.ignored) == {"widgets", "position", "scale", "text", "alert_seconds"}


@pytest.mark.django_db
def test_the_page_carries_the_options_and_never_a_raw_string(client):
    community = CommunityFactory()
    evil = '"><script>alert(1)</script>'

    page = client.get(
        f"/c/{community.slug}/overlay/",
        {"widgets": "bar", "accent": evil, "panel": "rgba(0,0,0,0.5)", "position": evil},
    )

    body = page.content.decode()
    assert page.status_code == 200
    assert "<script>alert(1)" not in body
    assert 'data-widgets="bar"' in body
    assert "--ov-panel: rgba(0,0,0,0.5)" in body
    assert "ov-pos-bottom" in body
    assert 'id="ov-vote"' not in body and 'id="ov-alert"' not in body  # only the bar
    assert "overlay options ignored" in body and "accent" in body


@pytest.mark.django_db
def test_the_overlay_of_a_public_community_needs_no_key(client):
    community = CommunityFactory()

    page = client.get(f"/c/{community.slug}/overlay/")

    assert page.status_code == 200
    assert 'data-key=""' in page.content.decode()
