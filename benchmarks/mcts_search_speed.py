"""Search speed: simulations per second of our PUCT search with a zero-cost evaluator, against OpenSpiel's
Python `MCTSBot` on chess with a zero-cost evaluator, one process each, measured in the same run.

    .venv/bin/python benchmarks/mcts_search_speed.py [--sims 4000] [--peer-python /tmp/osvenv/bin/python]

OpenSpiel is not a project dependency. Install it into a separate environment for the peer:
    python3 -m venv /tmp/osvenv && /tmp/osvenv/bin/pip install open_spiel
The peer runs in that interpreter as a subprocess; without it the script says so and prints our figure only.

Figures (sims/s, `--repeats 2`, medians of 3-4 interleaved runs on a 2-core machine shared with other jobs, so
single runs swing by a third or more; position 0 is the start, position 1 a Two Knights Defence):
    python-chess move generation (93c4143):  one root 4,600 / 4,600, 32 lockstep roots 5,800 / 4,000
    C move generation (bench._movegen):      one root 9,900 / 10,300, 32 lockstep roots 12,800 / 14,500
    OpenSpiel MCTSBot, same runs:            12,600 / 7,700
and in a later session, 4 runs of each interleaved:
    C move generation, rerun (e8187f2):      one root 9,800 / 8,100, 32 lockstep roots 10,800 / 10,500
    C PUCT argmax (puct_select) as well:     one root 12,700 / 13,500, 32 lockstep roots 16,000 / 15,700
    OpenSpiel MCTSBot, same 8 runs:          10,800 / 7,700
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

import chess
import numpy as np

from bench.learners.mcts.search import BatchedSearch, SearchConfig, SearchNode, UniformEvaluator, history_counts

POSITIONS = [
    chess.STARTING_FEN,
    "r1bqkb1r/pppp1ppp/2n2n2/4p3/2B1P3/5N2/PPPP1PPP/RNBQK2R w KQkq - 4 4",
]

PEER = r"""
import json, sys, time
import numpy as np
import pyspiel
from open_spiel.python.algorithms import mcts

class ZeroCost(mcts.Evaluator):
    # value 0 and uniform priors: the search alone is timed
    def evaluate(self, state):
        return np.zeros(2)
    def prior(self, state):
        legal = state.legal_actions()
        return [(a, 1.0 / len(legal)) for a in legal]

sims, fens = int(sys.argv[1]), json.loads(sys.argv[2])
game = pyspiel.load_game("chess")
out = []
for fen in fens:
    state = game.new_initial_state(fen)
    bot = mcts.MCTSBot(game, uct_c=1.5, max_simulations=sims, evaluator=ZeroCost(), random_state=np.random.RandomState(0))
    start = time.perf_counter()
    bot.mcts_search(state)
    out.append(sims / (time.perf_counter() - start))
print(json.dumps(out))
"""


def ours(sims: int, fen: str, roots: int = 1) -> float:
    """Simulations per second of `roots` lockstep searches from `fen` with uniform priors and value 0."""
    board = chess.Board(fen)
    nodes = [SearchNode.root(board) for _ in range(roots)]
    search = BatchedSearch(UniformEvaluator(), SearchConfig(c_puct=1.5), np.random.default_rng(0))
    start = time.perf_counter()
    search.search(nodes, [history_counts(board) for _ in nodes], [sims // roots] * roots)
    return sims / (time.perf_counter() - start)


def peer(python: str, sims: int) -> list[float] | None:
    if not os.path.exists(python):
        return None
    proc = subprocess.run([python, "-c", PEER, str(sims), json.dumps(POSITIONS)], capture_output=True, text=True)
    if proc.returncode != 0:
        print(f"OpenSpiel peer failed: {proc.stderr.strip().splitlines()[-1:]}", file=sys.stderr)
        return None
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sims", type=int, default=4000)
    parser.add_argument("--peer-python", default=os.environ.get("OPENSPIEL_PYTHON", "/tmp/osvenv/bin/python"))
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    ours(200, POSITIONS[0])  # warm-up
    theirs_all = [peer(args.peer_python, args.sims) for _ in range(args.repeats)]
    for i, fen in enumerate(POSITIONS):
        mine = float(np.median([ours(args.sims, fen) for _ in range(args.repeats)]))
        lockstep = float(np.median([ours(args.sims, fen, roots=32) for _ in range(args.repeats)]))
        line = f"position {i}: ours {mine:,.0f} sims/s (one root), {lockstep:,.0f} sims/s (32 lockstep roots)"
        if all(t is not None for t in theirs_all):
            theirs = float(np.median([t[i] for t in theirs_all]))
            line += f"; OpenSpiel MCTSBot {theirs:,.0f} sims/s; ratio ours/OpenSpiel {mine / theirs:.2f}"
        else:
            line += f"; OpenSpiel peer unavailable at {args.peer_python} (see the module docstring)"
        print(line)


if __name__ == "__main__":
    main()
