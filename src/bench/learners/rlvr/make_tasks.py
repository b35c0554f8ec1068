"""Generate task files for the rlvr learner, checked by the rules as they are written.

    python -m bench.learners.rlvr.make_tasks mate_in_one --count 200 --seed 0 --out conf/tasks/mate_in_one.epd
    python -m bench.learners.rlvr.make_tasks endgame --material KQvK --count 100 --seed 0 --out conf/tasks/kqk.epd
    python -m bench.learners.rlvr.make_tasks conversion --count 2000 --seed 0 --out conf/tasks/conversion
    python -m bench.learners.rlvr.make_tasks capture --count 600 --seed 0 --out conf/tasks/capture.epd

Mate-in-one positions come from random-play games scanned ply by ply and from random KQvK/KRvK-like placements;
each line lists every mating move as `bm`, so the file can be re-verified by the rules at any time.

`capture` positions (seed claim 2's second chess family) come from random-play games too: the side to move has a
move that wins at least `--min-gain` pawns by static exchange (`exchange.py`), no mate in one, and at least one
other capture that does not win (so "a capture" is not the answer by itself); every winning move is listed as `bm`.

`conversion` writes the task sets of games against the random mover, from the positions such games reach: a
converter (mate in one when it sees it, most of the time; else the most valuable capture, most of the time; else a
random move) plays the random mover from 4 random plies, and its positions become
`<out>_m1.epd` (mate in one, every mating move as `bm`), `<out>_m2.epd` and `<out>_m3.epd` (a forced mate in
exactly N, proved by the rules with `sources.forced_mate` and confirmed by Stockfish's `mate N` score; `bm` is the
proving move) and `<out>_ahead.epd` (the converter at least a rook ahead: start positions for `game` tasks).
"""

from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path
from typing import Any

import chess
import chess.engine

from bench.learners.rlvr.exchange import winning_moves
from bench.learners.rlvr.sources import (
    MateInOneSource,
    SearchBudget,
    forced_mate,
    mating_moves,
    random_endgame,
    random_play,
)
from bench.learners.rlvr.tasks import write_epd
from bench.learners.rlvr.verifiers import PIECE_VALUES, EnginePool, material


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


def capture_positions(count: int, seed: int, min_gain: int = 2, min_ply: int = 4,
                      max_ply: int = 80) -> list[tuple[chess.Board, dict]]:
    """`count` distinct random-play positions with a move winning `min_gain` pawns by static exchange, no mate in
    one and a capture that does not win; each with every winning move and an id."""
    rng = random.Random(seed)
    seen: set[str] = set()
    out: list[tuple[chess.Board, dict]] = []
    while len(out) < count:
        board = random_play(rng, rng.randint(min_ply, max_ply))
        if board.is_game_over() or board.epd() in seen:
            continue
        seen.add(board.epd())
        if mating_moves(board):
            continue
        wins = winning_moves(board, min_gain)
        decoys = [m for m in board.legal_moves if board.is_capture(m) and m not in wins]
        if wins and decoys:
            position = chess.Board(board.fen())
            out.append((position, {"bm": wins, "id": f"cap.{len(out) + 1:04d}", "verifier": "capture", "horizon": 1}))
    return out


def endgame_positions(material: str, count: int, seed: int, horizon: int) -> list[tuple[chess.Board, dict]]:
    rng = random.Random(seed)
    out = []
    for i in range(count):
        board = random_endgame(rng, material)
        out.append((board, {"id": f"{material}.{i + 1:04d}", "verifier": "result", "horizon": horizon}))
    return out


def _converter_move(board: chess.Board, rng: random.Random, mates: list[chess.Move]) -> chess.Move:
    """The converter of `conversion_positions`: it misses a mate in one 70% of the time (so its games pass through
    many of them) and a capture 30% of the time; otherwise the most valuable capture, else a random move."""
    if mates and rng.random() < 0.3:
        return rng.choice(mates)
    moves = list(board.legal_moves)
    if rng.random() < 0.7:
        value = {m: PIECE_VALUES[board.piece_type_at(m.to_square)] for m in moves if board.piece_type_at(m.to_square)}
        if value:
            best = max(value.values())
            return rng.choice([m for m, v in value.items() if v == best])
    return rng.choice(moves)


def conversion_positions(
    counts: dict[str, int], seed: int, stockfish: str | None = None, nodes: int = 5_000, max_games: int = 20_000,
    log_every: int = 50,
) -> dict[str, list[tuple[chess.Board, dict]]]:
    """Positions of converter-vs-random-mover games, by kind (m1, m2, m3, ahead), up to `counts[kind]` each."""
    rng = random.Random(seed)
    out: dict[str, list[tuple[chess.Board, dict]]] = {k: [] for k in counts}
    seen: set[str] = set()
    engines = EnginePool(1, stockfish) if any(counts.get(k, 0) for k in ("m2", "m3")) else None

    def full(kind: str) -> bool:
        return len(out.get(kind, [])) >= counts.get(kind, 0)

    try:
        for game in range(max_games):
            if all(full(k) for k in counts):
                break
            if log_every and game % log_every == 0:
                print(f"game {game}: " + ", ".join(f"{k} {len(v)}" for k, v in out.items()), file=sys.stderr)
            board = chess.Board()
            for _ in range(4):
                board.push(rng.choice(list(board.legal_moves)))
            me = rng.choice([chess.WHITE, chess.BLACK])
            while not board.is_game_over(claim_draw=True) and board.ply() < 400:
                if board.turn != me:
                    board.push(rng.choice(list(board.legal_moves)))
                    continue
                mates = mating_moves(board)
                epd = board.epd()
                if board.ply() >= 8 and epd not in seen:
                    seen.add(epd)
                    _classify(board, mates, rng, out, full, engines, nodes)
                board.push(_converter_move(board, rng, mates))
    finally:
        if engines is not None:
            engines.close()
    return out


def _classify(board: chess.Board, mates: list[chess.Move], rng: random.Random, out: dict, full: Any,
              engines: Any, nodes: int) -> None:
    """Files `board` (the converter to move) under m1, m2, m3 or ahead, when its kind still needs positions."""
    position = chess.Board(board.fen())  # no move stack: a task starts from the position alone
    ahead = material(board, board.turn)
    if mates:
        if not full("m1"):
            out["m1"].append((position, {"bm": mates, "id": f"cm1.{len(out['m1']) + 1:04d}", "verifier": "mate",
                                         "horizon": 1}))
        return
    if ahead >= 5 and not full("ahead") and rng.random() < 0.15:
        out["ahead"].append((position, {"id": f"ahead.{len(out['ahead']) + 1:04d}", "verifier": "game"}))
    if engines is None or ahead < 5 or (full("m2") and full("m3")) or rng.random() < 0.8:
        return

    def mate_score(engine: Any, b: chess.Board) -> tuple[int | None, chess.Move | None]:
        info = engine.analyse(b, chess.engine.Limit(nodes=nodes), game=object())
        pv = info.get("pv") or [None]
        return info["score"].pov(b.turn).mate(), pv[0]

    mate, first = engines.map(mate_score, [position])[0]
    kind = {2: "m2", 3: "m3"}.get(mate or 0)
    if kind is None or full(kind):
        return
    try:  # proved by the rules: a forced mate in exactly N (none in N - 1)
        proof = forced_mate(position, mate, first=first)
        if proof is None or forced_mate(position, mate - 1) is not None:
            return
    except SearchBudget:
        return
    out[kind].append((position, {"bm": [proof], "id": f"c{kind}.{len(out[kind]) + 1:04d}", "verifier": "mate",
                                 "horizon": mate}))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("kind", choices=["mate_in_one", "endgame", "conversion", "capture"])
    parser.add_argument("--count", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--material", default="KQvK")
    parser.add_argument("--horizon", type=int, default=20)
    parser.add_argument("--min-gain", type=int, default=2, help="capture: pawns a winning move must win")
    parser.add_argument("--out", required=True)
    parser.add_argument("--stockfish", default=None, help="conversion: the Stockfish binary (default: found on PATH)")
    args = parser.parse_args(argv)
    command = "python -m bench.learners.rlvr.make_tasks " + " ".join(sys.argv[1:] if argv is None else argv)
    if args.kind == "conversion":
        counts = {"m1": args.count, "m2": args.count // 2, "m3": args.count // 4, "ahead": args.count // 2}
        sets = conversion_positions(counts, args.seed, args.stockfish)
        about = {
            "m1": "Mate in one in positions of converter-vs-random-mover games; every mating move is listed as bm.",
            "m2": "A forced mate in exactly 2, proved by the rules (sources.forced_mate) and Stockfish's mate 2 score.",
            "m3": "A forced mate in exactly 3, proved by the rules (sources.forced_mate) and Stockfish's mate 3 score.",
            "ahead": "The converter at least 5 pawns of material ahead, to move: start positions for game tasks.",
        }
        for kind, rows in sets.items():
            path = Path(f"{args.out}_{kind}.epd")
            path.parent.mkdir(parents=True, exist_ok=True)
            write_epd(path, rows, f"{about[kind]}\nMade by: {command}")
            print(f"wrote {len(rows)} tasks to {path}")
        return 0
    if args.kind == "mate_in_one":
        rows = mate_in_one_positions(args.count, args.seed)
        header = f"Mate-in-one tasks, every mating move listed as bm (checked by the rules).\nMade by: {command}"
    elif args.kind == "capture":
        rows = capture_positions(args.count, args.seed, args.min_gain)
        header = (f"Win-material tasks: every move winning at least {args.min_gain} pawns by static exchange listed as "
                  f"bm (checked by the rules); no mate in one; a capture that does not win.\nMade by: {command}")
    else:
        rows = endgame_positions(args.material, args.count, args.seed, args.horizon)
        header = f"{args.material} endgames (legal random placements), side to move is the learner.\nMade by: {command}"
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    write_epd(args.out, rows, header)
    print(f"wrote {len(rows)} tasks to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
