"""Suggestion clustering cost: time and peak memory for 1,000, 5,000 and 20,000 suggestions.

    flock /tmp/bench.lock .venv/bin/python -m scripts.bench.suggestions_clustering

Each size runs in a fresh subprocess (`--one N`), so its peak RSS (`ru_maxrss`) is its own:
the figure includes the interpreter, NumPy, SciPy and scikit-learn (reported apart as the
baseline, measured after the imports and the generation, before clustering). The suggestions
come from a seeded generator (`generate`): a few hundred ideas, each phrased through chat
templates with typos, casing, emoji and filler, plus 10% chatter. Goals (issue 9): 5,000 in
≤ 30 s with ≤ 500 MB.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import subprocess
import sys
import time

SIZES = (1_000, 5_000, 20_000)
SEED = 20261201

_THINGS = """dragon pet, hardcore mode, speedrun, subathon, dance emote, cooking stream, horror
night, viewer games, cat emote, blindfold run, karaoke, irl stream, minecraft server, silly
hat, spicy noodles, no hit run, art stream, pirate accent, skin giveaway, chat plays, retro
night, fishing minigame, lore recap, boss rush, puzzle stream, chess match, dog cam, plant
tour, workout stream, cosplay day, lego build, piano stream, trivia night, meme review,
marathon, charity stream, bingo card, sticker pack, badge set, sound alert""".replace("\n", " ")
_TWISTS = """on sunday, for subs, with chat, all night, on hard, in vr, with friends, for charity,
with a timer, blind, in the dark, backwards, with one hand, at midnight""".replace("\n", " ")
_TEMPLATES = (
    "{x}",
    "!suggest {x}",
    "{X}",
    "pls {x}",
    "we need {x}",
    "can we get {x}",
    "{x} {e}",
    "{x} pls {e}{e}",
    "add {x}!!!",
)
_EMOJI = "🔥🐉💀🎉💃🍳👻🎮🐱🙈🎤🌳⛏️🎩🌶️😤🎨🎁🕹️👾🎣📜"
_CHATTER = "lol pog kekw gg hi chat nice wow first when next stream love it omg".split()


def _typo(rng: random.Random, text: str) -> str:
    if len(text) < 4 or rng.random() < 0.6:
        return text
    i = rng.randrange(1, len(text) - 1)
    return text[:i] + text[i + 1 :] if rng.random() < 0.5 else text[:i] + text[i] + text[i:]


def generate(n: int, seed: int = SEED) -> list[str]:
    """`n` suggestions over `n // 25` ideas (a thing and a twist), 10% chatter."""
    rng = random.Random(seed)  # noqa: S311 (a reproducible workload, not a secret)
    things = [t.strip() for t in _THINGS.split(",")]
    twists = [t.strip() for t in _TWISTS.split(",")]
    ideas = [f"{thing} {twist}" for thing in things for twist in twists]
    rng.shuffle(ideas)
    ideas = ideas[: max(1, n // 25)]
    out = []
    for _ in range(n):
        if rng.random() < 0.1:
            out.append(" ".join(rng.choices(_CHATTER, k=rng.randint(1, 3))))
            continue
        idea = _typo(rng, rng.choice(ideas))
        template = rng.choice(_TEMPLATES)
        out.append(template.format(x=idea, X=idea.upper(), e=rng.choice(_EMOJI)))
    return out


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux


def measure(n: int) -> dict[str, float | int]:
    from jobs.clustering import cluster

    texts = generate(n)
    baseline = _rss_mb()
    started = time.perf_counter()
    groups = cluster(texts)
    elapsed = time.perf_counter() - started
    return {
        "suggestions": n,
        "seconds": round(elapsed, 2),
        "peak_rss_mb": round(_rss_mb(), 1),
        "baseline_rss_mb": round(baseline, 1),
        "groups": sum(1 for g in groups if g.size > 1),
        "singletons": sum(1 for g in groups if g.size == 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--one", type=int, help="measure one size in this process (JSON out)")
    parser.add_argument("--sizes", type=int, nargs="*", default=list(SIZES))
    args = parser.parse_args()
    if args.one:
        print(json.dumps(measure(args.one)))
        return
    print(f"{'n':>7} {'seconds':>8} {'peak MB':>8} {'base MB':>8} {'groups':>7} {'single':>7}")
    for n in args.sizes:
        out = subprocess.run(
            [sys.executable, "-m", "scripts.bench.suggestions_clustering", "--one", str(n)],
            check=True,
            capture_output=True,
            text=True,
        )
        r = json.loads(out.stdout.strip().splitlines()[-1])
        print(
            f"{r['suggestions']:>7} {r['seconds']:>8} {r['peak_rss_mb']:>8} "
            f"{r['baseline_rss_mb']:>8} {r['groups']:>7} {r['singletons']:>7}",
            flush=True,
        )


if __name__ == "__main__":
    main()
