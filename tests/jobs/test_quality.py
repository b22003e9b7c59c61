"""Quality of the grouping on a labelled fixture written like real chat
(tests/jobs/fixtures/suggestions_labelled.json: 278 suggestions in 23 ideas — paraphrases,
typos, casing, emoji, a few in Spanish, German, French and Portuguese — and 35 lines of noise).

Scoring: the adjusted Rand index over every line, noise included, where each noise line is a
true group of its own: the clustering is rewarded for leaving chatter alone and punished for
folding it into an idea (or for merging ideas)."""

from __future__ import annotations

from sklearn.metrics import adjusted_rand_score

from jobs.clustering import cluster
from jobs.suggestions_services import clean_text
from tests.jobs.suggestion_fixtures import labelled

MIN_ARI = 0.8


def predicted_labels(texts: list[str]) -> list[int]:
    labels = [0] * len(texts)
    for number, group in enumerate(cluster(texts)):
        for member in group.members:
            labels[member] = number
    return labels


def test_the_fixture_is_as_big_and_varied_as_promised():
    texts, truth = labelled()
    ideas = {label for label in truth if not label.startswith("noise-")}

    assert len(texts) >= 300
    assert len(ideas) >= 20
    assert sum(label.startswith("noise-") for label in truth) >= 20
    assert all(clean_text(text) for text in texts)  # each one could have been posted


def test_the_labelled_suggestions_cluster_with_an_adjusted_rand_index_of_at_least_0_8():
    texts, truth = labelled()

    score = adjusted_rand_score(truth, predicted_labels(texts))

    assert score >= MIN_ARI, f"adjusted Rand index {score:.3f} < {MIN_ARI}"
