"""The clustering of suggestions (jobs/clustering.py): what normalisation forgives, and that
the same suggestions always give the same groups, in any order."""

from __future__ import annotations

import random

import pytest

from jobs import clustering
from jobs.clustering import cluster, display_title, normalize
from scripts.bench.suggestions_clustering import generate
from tests.jobs.suggestion_fixtures import labelled


def as_sets(texts: list[str], groups) -> set[frozenset[str]]:  # noqa: ANN001
    return {frozenset(texts[i] for i in group.members) for group in groups}


@pytest.mark.parametrize(
    ("typed", "meant"),
    [
        ("!suggest PET DRAGON 🐉🐉", "pet dragon"),
        ("pls add a pet dragon!!!", "pet dragon"),
        ("peeeet draaagon", "pet dragon"),
        ("Mascota dragón", "mascota dragon"),
        ("@streamer pet dragon https://example.com/x", "pet dragon"),
        ("🔥🔥🔥", ""),
    ],
)
def test_normalisation_forgets_casing_emoji_accents_repeats_commands_and_filler(typed, meant):
    assert normalize(typed) == meant.replace("pet", "pet").replace("ee", "e")


def test_typos_casing_and_emoji_land_in_one_group_and_other_ideas_apart():
    texts = ["pet dragon", "PET DRAGN 🐉", "dragon pet pls", "karaoke night", "KARAOKEE 🎤"]

    groups = cluster(texts)

    assert as_sets(texts, groups) == {
        frozenset(texts[:3]),
        frozenset(texts[3:]),
    }


def test_every_suggestion_ends_in_exactly_one_group():
    texts, _ = labelled()

    groups = cluster(texts)

    members = sorted(i for group in groups for i in group.members)
    assert members == list(range(len(texts)))
    assert all(group.representative in group.members for group in groups)
    assert all(0 <= group.cohesion <= 1 for group in groups)


def test_the_same_suggestions_in_any_order_give_the_same_groups_and_titles():
    texts, _ = labelled()
    keys = list(range(1000, 1000 + len(texts)))
    expected = cluster(texts, keys)
    described = {
        (frozenset(keys[i] for i in g.members), keys[g.representative], g.cohesion)
        for g in expected
    }

    for seed in range(3):
        order = list(range(len(texts)))
        random.Random(seed).shuffle(order)
        shuffled = cluster([texts[i] for i in order], [keys[i] for i in order])
        again = {
            (
                frozenset(keys[order[i]] for i in g.members),
                keys[order[g.representative]],
                g.cohesion,
            )
            for g in shuffled
        }
        assert again == described


@pytest.fixture
def block_sizes(monkeypatch) -> list[int]:  # noqa: ANN001
    """The size of every block handed to the linkage, and whether it took the SVD path."""
    seen: list[int] = []
    real = clustering._split_block

    def spy(vectors, graph, rows, threshold):  # noqa: ANN001, ANN202
        seen.append(len(rows))
        return real(vectors, graph, rows, threshold)

    monkeypatch.setattr(clustering, "_split_block", spy)
    return seen


def test_a_block_past_the_cap_is_cut_again_and_stays_deterministic(monkeypatch, block_sizes):
    texts = generate(600, seed=7)
    monkeypatch.setattr(clustering, "BLOCK_CAP", 40)

    first = cluster(texts)
    second = cluster(list(reversed(texts)))

    n = len(texts)
    assert as_sets(texts, first) == {frozenset(texts[n - 1 - i] for i in g.members) for g in second}
    assert max(block_sizes) <= 40


def test_a_block_no_cut_brings_under_the_cap_takes_the_svd_path(monkeypatch, block_sizes):
    texts = [f"pet dragon {n}" for n in range(40)] + ["karaoke night", "karaoke", "KARAOKE!!"]
    monkeypatch.setattr(clustering, "BLOCK_CAP", 10)
    monkeypatch.setattr(clustering, "MAX_BLOCK_SIMILARITY", 0.0)  # no cut allowed

    groups = cluster(texts)

    assert max(block_sizes) > 10  # left whole: clustered on SVD components
    assert frozenset(texts[-3:]) in as_sets(texts, groups)
    assert max(g.size for g in groups) >= 30


def test_fifty_copies_of_a_wording_do_not_hide_its_typos():
    texts = ["pet dragon"] * 50 + ["pet dragn"] * 20 + ["karaoke night"] * 5

    assert sorted(g.size for g in cluster(texts)) == [5, 70]


def test_blocks_are_reported_as_units_of_work():
    texts, _ = labelled()
    reports: list[tuple[int, int]] = []

    cluster(texts, on_block=lambda done, total: reports.append((done, total)))

    assert reports[-1][0] == reports[-1][1] == len(reports)
    assert [done for done, _ in reports] == list(range(1, len(reports) + 1))


def test_nothing_and_one_suggestion_are_fine():
    assert cluster([]) == []
    (alone,) = cluster(["pet dragon"])
    assert (alone.members, alone.representative, alone.cohesion) == ((0,), 0, 1.0)


def test_a_title_is_the_suggestion_without_command_emoji_or_shouting():
    assert display_title("!suggest HARDCORE MODE 💀!!!") == "Hardcore mode"
    assert display_title("an IRL stream outside") == "An IRL stream outside"
    assert display_title("🔥🔥") == "Untitled suggestion"
