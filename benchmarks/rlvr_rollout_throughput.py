"""rlvr rollout throughput: positions per second through the policy in GRPO rollouts vs a bare batched forward.

Runs `RolloutEngine.run` on `tasks x group` rollouts (random-play starts, horizon plies against the random mover,
the rules-only mate verifier, so no engine time is counted) and divides the learner positions it pushed through
the network per second by the positions per second of a bare `net(planes)` forward of the same network at the
rollouts' full batch size (tasks x group). Everything the rollout adds -- encoding, legal masks, sampling, moving,
game-over checks, the opponent's moves -- shows up as the gap. Target: ratio >= 0.5.

    .venv/bin/python benchmarks/rlvr_rollout_throughput.py [--tasks 8] [--group 16] [--horizon 20] [--repeats 3]
"""

from __future__ import annotations

import argparse
import random
import statistics
import time

import torch

from bench.compute import FlopCounter
from bench.encoding import NUM_PLANES
from bench.learners.rlvr.config import GeneratorConfig
from bench.learners.rlvr.rollouts import Opponents, RolloutEngine
from bench.learners.rlvr.sources import random_play
from bench.learners.rlvr.tasks import Task
from bench.learners.rlvr.verifiers import EnginePool, Verifiers
from bench.network import PolicyValueNet


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", type=int, default=8)
    parser.add_argument("--group", type=int, default=16)
    parser.add_argument("--horizon", type=int, default=20)
    parser.add_argument("--blocks", type=int, default=2)
    parser.add_argument("--channels", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    net = PolicyValueNet(args.blocks, args.channels, value_head="scalar").eval()
    params = GeneratorConfig(name="bench", verifier="mate", mate_in=args.horizon, horizon=args.horizon)
    counter = FlopCounter()

    def flops_of(batch: int, run: object) -> float:
        known = counter.known(batch)
        if known is None:
            return counter.count(batch, run)  # type: ignore[arg-type]
        run()  # type: ignore[operator]
        return known

    engine = RolloutEngine(net, Opponents([], 1, None, 0), Verifiers(EnginePool(1)), lambda t: params, flops_of)
    rng = random.Random(0)
    batch = args.tasks * args.group
    rollout_rates, forward_rates = [], []
    generator = torch.Generator().manual_seed(0)
    planes = torch.randn(batch, NUM_PLANES, 8, 8)
    for repeat in range(args.repeats + 1):
        tasks = [Task(random_play(rng, rng.randint(4, 30)).fen(), "mate", args.horizon, "random", "bench")
                 for _ in range(args.tasks)]
        start = time.perf_counter()
        out = engine.run(tasks, args.group, 1.0, generator)
        rollout_s = time.perf_counter() - start
        calls = 20
        start = time.perf_counter()
        with torch.no_grad():
            for _ in range(calls):
                net(planes)
        forward_s = (time.perf_counter() - start) / calls
        if repeat == 0:
            continue  # warm-up: first FLOP measurements and allocations
        rollout_rates.append(len(out.actions) / rollout_s)
        forward_rates.append(batch / forward_s)
    rollout, forward = statistics.median(rollout_rates), statistics.median(forward_rates)
    print(f"network {args.blocks}x{args.channels}, batch {batch} ({args.tasks} tasks x {args.group}), "
          f"horizon {args.horizon}, torch threads {args.threads}")
    print(f"rollout throughput: {rollout:,.0f} learner positions/s through the policy (median of {args.repeats})")
    print(f"bare batched forward: {forward:,.0f} positions/s at batch {batch}")
    print(f"ratio: {rollout / forward:.2f} (target >= 0.5)")


if __name__ == "__main__":
    main()
