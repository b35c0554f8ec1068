"""Replay memory: bytes per stored position, and a 1,000,000-position buffer filled with real self-play
samples, which must fit in under 1 GiB. The peer is the naive layout (float32 planes + dense float32 policy)
that the compact form replaces.

    .venv/bin/python benchmarks/replay_memory.py [--positions 1000000]
"""

from __future__ import annotations

import argparse
import resource
from dataclasses import asdict

import numpy as np

from bench.encoding import NUM_MOVES, NUM_PLANES
from bench.learners.mcts.config import MctsConfig
from bench.learners.mcts.replay import ReplayBuffer
from bench.learners.mcts.workers import SelfPlayWorker


def rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--positions", type=int, default=1_000_000)
    args = parser.parse_args()
    cfg = asdict(MctsConfig())
    cfg.update(games_per_worker=16, full_search_prob=1.0, simulations=16, max_plies=30)
    samples = SelfPlayWorker(cfg, seed=0, index=0).play(32)["samples"]
    n = len(samples["planes"])
    before = rss_mib()
    buffer = ReplayBuffer(args.positions, MctsConfig.policy_top_k)
    for start in range(0, args.positions, n):  # fill every slot with real samples, repeated
        buffer.add(*(samples[k] for k in ("planes", "policy_index", "policy_prob", "outcome", "root_q")))
    grown = rss_mib() - before
    naive = (NUM_PLANES * 64 + NUM_MOVES) * 4 + 4
    gib = buffer.nbytes / 2**30
    print(
        f"{buffer.bytes_per_position():.0f} bytes per position (top_k={buffer.top_k}); {args.positions:,} positions: "
        f"{buffer.nbytes / 2**20:,.0f} MiB = {gib:.3f} GiB ({'under' if gib < 1 else 'OVER'} 1 GiB; peak RSS grew "
        f"{grown:,.0f} MiB); naive float planes + dense policy: {naive:,} bytes per position, "
        f"ratio naive/compact {naive / buffer.bytes_per_position():.0f}x ({n} real samples, repeated)"
    )


if __name__ == "__main__":
    main()
