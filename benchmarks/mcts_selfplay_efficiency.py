"""Self-play efficiency: positions per second that self-play feeds the network, divided by the positions per
second of a bare batched forward pass of the same network at the same batch size (the physical limit). The
ratio is the share of self-play time the network gets; 0.5 means search, move generation and encoding at most
double the cost. Both sides run in this process with the same torch threads.

    .venv/bin/python benchmarks/mcts_selfplay_efficiency.py [--blocks 2 --channels 32 --games 32 --threads 1]
"""

from __future__ import annotations

import argparse
import time
from dataclasses import asdict

import numpy as np
import torch

from bench.encoding import NUM_PLANES
from bench.learners.mcts.config import MctsConfig
from bench.learners.mcts.workers import SelfPlayWorker


def bare_forward(net: torch.nn.Module, batch: int, seconds: float = 3.0) -> float:
    x = torch.from_numpy(np.random.default_rng(0).random((batch, NUM_PLANES, 8, 8), dtype=np.float32))
    with torch.no_grad():
        net(x)
        done, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds:
            net(x)
            done += batch
    return done / (time.perf_counter() - start)


def selfplay_rate(worker: SelfPlayWorker, plies: int) -> tuple[float, float]:
    """(positions evaluated per second, mean batch size) over `plies` moves per game."""
    worker.play(2)  # warm-up: FLOP measurement of the first batch shapes
    search = worker.selfplay.search
    batches, evaluated = search.batches, search.evaluated
    start = time.perf_counter()
    out = worker.play(plies)
    seconds = time.perf_counter() - start
    return out["evaluated"] / seconds, (search.evaluated - evaluated) / max(1, search.batches - batches)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--blocks", type=int, default=MctsConfig.blocks)
    parser.add_argument("--channels", type=int, default=MctsConfig.channels)
    parser.add_argument("--games", type=int, default=MctsConfig.games_per_worker)
    parser.add_argument("--plies", type=int, default=6)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    cfg = asdict(MctsConfig())
    cfg.update(blocks=args.blocks, channels=args.channels, games_per_worker=args.games)
    worker = SelfPlayWorker(cfg, seed=0, index=0)
    fed, batch = selfplay_rate(worker, args.plies)
    limit = bare_forward(worker.net, round(batch))
    print(
        f"net {args.blocks}x{args.channels}, {args.games} lockstep games, mean batch {batch:.1f}, {args.threads} thread(s): "
        f"self-play feeds {fed:,.0f} positions/s; bare forward {limit:,.0f} positions/s; "
        f"efficiency {fed / limit:.2f} (target >= 0.5)"
    )


if __name__ == "__main__":
    main()
