"""Summarises a py-spy raw (collapsed stacks) file written by `python -m scripts.bench.stream --profile`.

    python scripts/bench/profile_summary.py var/bench/uvicorn-2000-...-publish.pyspy.txt [--top 25]

Prints the frames with the most samples on top of the stack (self) and anywhere in it
(inclusive), in % of all samples. py-spy only samples Python frames: time in C (a socket
write, the garbage collector) is charged to the Python line that called into it. Stacks are
sampled without pausing the server (--nonblocking), so some are torn: trust the self column
and A/B runs (--variant) over exact inclusive figures.
"""

from __future__ import annotations

import argparse
import collections
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("path", type=Path)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--grep", default="", help="only frames containing this text")

    args = parser.parse_args()
    total = 0
    own: collections.Counter[str] = collections.Counter()
    inclusive: collections.Counter[str] = collections.Counter()
    for line in args.path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack:
            continue
        n = int(count)
        frames = stack.split(";")
        total += n
        own[frames[-1]] += n
        for frame in set(frames):
            inclusive[frame] += n
    print(f"{total} samples in {args.path}")
    for title, counter in (("self", own), ("inclusive", inclusive)):
        print(f"--- {title}")
        shown = 0
        for frame, n in counter.most_common():
            if args.grep and args.grep not in frame:
                continue
            print(f"{100 * n / total:5.1f}%  {frame}")
            shown += 1
            if shown >= args.top:
                break


if __name__ == "__main__":
    main()
