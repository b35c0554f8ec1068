"""Replay one calibrated pair of rungs the way an outsider would: python-chess and Stockfish only, none of bench's
game loop, players or rating code. Plays the random mover against an ε-mixed Stockfish rung to the end by the
rules of chess (claimable draws taken at once, a ply cap a draw), from random opening plies with colours paired,
and compares the measured Elo difference with the calibration's.

    .venv/bin/python benchmarks/replay_rung_pair.py --rung eps90 --games 300

Prints the score, the replayed difference with its 95% interval, the calibrated difference with its own, and
the z of their disagreement (|z| < 2: the replay confirms the calibration within the intervals).
"""

from __future__ import annotations

import argparse
import json
import math
import random
import re
import shutil
import time
from pathlib import Path

import chess
import chess.engine

CONF = Path(__file__).resolve().parents[1] / "conf" / "ladder"


def engine_settings(description: str) -> tuple[int | None, int, float]:
    """(uci_elo, nodes, epsilon) from a calibration's rung description ('stockfish uci_elo=1350 nodes=5000 epsilon=0.9')."""
    fields = dict(re.findall(r"(\w+)=([\d.]+)", description))
    uci_elo = int(fields["uci_elo"]) if "uci_elo" in fields else None
    return uci_elo, int(fields["nodes"]), float(fields.get("epsilon", 0.0))


def play(engine: chess.engine.SimpleEngine, engine_white: bool, nodes: int, epsilon: float, rng: random.Random,
         opening_plies: int, max_plies: int) -> float:
    """One game; returns the random mover's score."""
    board = chess.Board()
    for _ in range(opening_plies):
        board.push(rng.choice(list(board.legal_moves)))
    while True:
        outcome = board.outcome(claim_draw=True)
        if outcome is not None or board.ply() >= max_plies:
            break
        if (board.turn == chess.WHITE) == engine_white and rng.random() >= epsilon:
            move = engine.play(board, chess.engine.Limit(nodes=nodes)).move
        else:
            move = rng.choice(list(board.legal_moves))
        board.push(move)
    if outcome is None or outcome.winner is None:
        return 0.5
    return 0.0 if outcome.winner == engine_white else 1.0


def elo(score: float) -> float:
    return -400.0 * math.log10(1.0 / score - 1.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calibration", default=str(CONF / "default.calibration.json"))
    parser.add_argument("--rung", default="eps90", help="the rung above `random` to replay against")
    parser.add_argument("--games", type=int, default=300)
    parser.add_argument("--opening-plies", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    calibration = json.loads(Path(args.calibration).read_text())
    uci_elo, nodes, epsilon = engine_settings(calibration["rungs"][args.rung])
    max_plies = int(re.search(r"maxplies=(\d+)", calibration["rules"]).group(1))
    binary = shutil.which("stockfish") or "/usr/games/stockfish"
    scores = []
    start = time.perf_counter()
    with chess.engine.SimpleEngine.popen_uci(binary) as engine:
        options = {"Threads": 1, "Hash": 16}
        if uci_elo is not None:
            options.update({"UCI_LimitStrength": True, "UCI_Elo": uci_elo})
        engine.configure(options)
        for pair in range(args.games // 2):
            for engine_white in (True, False):  # the same opening with colours swapped
                rng = random.Random(args.seed * 1_000_003 + pair)
                opening = random.Random(rng.random())
                scores.append(play(engine, engine_white, nodes, epsilon, opening, args.opening_plies, max_plies))
    n = len(scores)
    mean = sum(scores) / n
    var = sum((s - mean) ** 2 for s in scores) / (n - 1)
    se_score = math.sqrt(var / n)
    slope = 400.0 / (math.log(10.0) * mean * (1.0 - mean))  # d Elo / d score at the mean (delta method)
    replay, replay_se = -elo(mean), slope * se_score  # the rung's advantage over the random mover
    names = calibration["covariance"]["order"]
    cov = calibration["covariance"]["matrix"]
    i, j = names.index("random"), names.index(args.rung)
    ratings = calibration["ratings"]
    calibrated = ratings[args.rung]["elo"] - ratings["random"]["elo"]
    calibrated_se = math.sqrt(max(0.0, cov[i][i] + cov[j][j] - 2 * cov[i][j]))
    z = (replay - calibrated) / math.hypot(replay_se, calibrated_se)
    print(f"{n} games random vs {args.rung} ({calibration['rungs'][args.rung]}), played to the end, "
          f"{max_plies}-ply cap, in {time.perf_counter() - start:.0f} s: random scored {sum(scores):g}/{n} ({mean:.3f})")
    print(f"replayed difference   {replay:6.0f} [{replay - 1.96 * replay_se:.0f}, {replay + 1.96 * replay_se:.0f}]")
    print(f"calibrated difference {calibrated:6.0f} [{calibrated - 1.96 * calibrated_se:.0f}, "
          f"{calibrated + 1.96 * calibrated_se:.0f}]  ({calibration['command']})")
    print(f"disagreement z = {z:+.2f} ({'within' if abs(z) < 2 else 'OUTSIDE'} the intervals)")


if __name__ == "__main__":
    main()
