"""Generate task files for the rlvr learner, checked by the rules as they are written.

    python -m bench.learners.rlvr.make_tasks mate_in_one --count 200 --seed 0 --out conf/tasks/mate_in_one.epd
    python -m bench.learners.rlvr.make_tasks endgame --material KQvK --count 100 --seed 0 --out conf/tasks/kqk.epd

Mate-in-one positions come from random-play games scanned ply by ply and from random KQvK/KRvK-like placements;
each line lists every mating move as `bm`, so the file can be re-verified by the rules at any time.
"""

from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path

import chess

from bench.learners.rlvr.sources import MateInOneSource, mating_moves, random_endgame
from bench.learners.rlvr.tasks import write_epd


def mate_in_one_positions(count: int, seed: int, min_ply: int = 4, max_ply: int = 80) -> list[tuple[chess.Board, dict]]:
    """`count` distinct positions with a mate in one, each with all its mating moves and an id."""
    rng = random.Random(seed)
    source = MateInOneSource(min_ply, max_ply, max_tries=1000)
    seen: set[str] = set()
    out = []
    while len(out) < count:
        board = source.sample(rng)
        if board.epd() in seen:
            continue
        seen.add(board.epd())
        mates = mating_moves(board)
        assert mates, "MateInOneSource returned a position without a mate in one"
        out.append((board, {"bm": mates, "id": f"m1.{len(out) + 1:04d}", "verifier": "mate", "horizon": 1}))
    return out


def endgame_positions(material: str, count: int, seed: int, horizon: int) -> list[tuple[chess.Board, dict]]:
    rng = random.Random(seed)
    out = []
    for i in range(count):
        board = random_endgame(rng, material)
        out.append((board, {"id": f"{material}.{i + 1:04d}", "verifier": "result", "horizon": horizon}))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("kind", choices=["mate_in_one", "endgame"])
    parser.add_argument("--count", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--material", default="KQvK")
    parser.add_argument("--horizon", type=int, default=20)
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    command = "python -m bench.learners.rlvr.make_tasks " + " ".join(sys.argv[1:] if argv is None else argv)
    if args.kind == "mate_in_one":
        rows = mate_in_one_positions(args.count, args.seed)
        header = f"Mate-in-one tasks, every mating move listed as bm (checked by the rules).\nMade by: {command}"
    else:
        rows = endgame_positions(args.material, args.count, args.seed, args.horizon)
        header = f"{args.material} endgames (legal random placements), side to move is the learner.\nMade by: {command}"
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    write_epd(args.out, rows, header)
    print(f"wrote {len(rows)} tasks to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
