"""Does the value head learn material from self-play outcomes, or memorise the games? (issue 3's diagnosis)

Plays `--improves` lockstep self-play improves with an untrained 1x16 net (no training), then fits fresh nets'
value heads on the replay's outcomes (the first 80% of positions; the last 20%, later games, held out) and
reports train / held-out value loss and the correlation of the value with the sign of the mover's material on
600 positions of random play. Compares AlphaZero's flattened value head with the pooled one (`value_pool`).

    .venv/bin/python benchmarks/mcts_value_fit.py [--improves 40] [--steps 400]
"""

from __future__ import annotations

import argparse
import time
from types import SimpleNamespace

import numpy as np
import torch
import torch.nn.functional as F

from bench.compute import ComputeMeter
from bench.encoding import encode_boards, expand_compact
from bench.learners import LearnerContext
from bench.learners.mcts import MctsLearner
from bench.learners.mcts.arena import random_positions
from bench.learners.mcts.train import wdl_target
from bench.network import PolicyValueNet, value_to_scalar


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--improves", type=int, default=40)
    ap.add_argument("--steps", type=int, default=400)
    ap.add_argument("--lr", type=float, default=0.003)
    args = ap.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    boards, signs = random_positions(600, seed=1)
    probe = torch.from_numpy(encode_boards(boards))
    ctx = LearnerContext(meter=ComputeMeter(), seed=0, runtime=SimpleNamespace(kind="local", device="cpu", workers=1),
                         stockfish=None)
    learner = MctsLearner(dict(in_process=True, blocks=1, channels=16, simulations=16, full_search_prob=1.0,
                               max_plies=40, material_margin=1, min_replay=10**9), ctx)
    start = time.perf_counter()
    for _ in range(args.improves):
        learner.improve()
    learner.close()
    n = learner.replay.size
    x = torch.from_numpy(expand_compact(learner.replay.planes[:n]))
    z = torch.from_numpy(learner.replay.outcome[:n].astype(np.float32))
    w = np.array([1, 3, 3, 5, 9])
    planes = x.numpy()
    mat = planes[:, 0:5].sum((2, 3)) @ w - planes[:, 6:11].sum((2, 3)) @ w
    print(f"self-play: {n} positions, {learner.totals['games']} games in {time.perf_counter() - start:.0f} s; "
          f"corr(outcome, sign of mover's material) = {np.corrcoef(z.numpy(), np.sign(mat))[0, 1]:.2f}")
    train = np.arange(n) < int(0.8 * n)
    for pool in (False, True):
        net = PolicyValueNet(1, 16, "wdl", value_pool=pool)
        opt = torch.optim.AdamW(net.parameters(), lr=args.lr, weight_decay=1e-4)
        rng = np.random.default_rng(0)
        rows = np.nonzero(train)[0]
        for _ in range(args.steps):
            b = torch.from_numpy(rng.choice(rows, 128))
            net.train()
            loss = -(wdl_target(z[b]) * F.log_softmax(net(x[b])[1], -1)).sum(-1).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
        net.eval()
        with torch.no_grad():
            def value_loss(mask: np.ndarray) -> float:
                m = torch.from_numpy(mask)
                return float(-(wdl_target(z[m]) * F.log_softmax(net(x[m])[1], -1)).sum(-1).mean())

            v = value_to_scalar(net(probe)[1], "wdl").numpy()
        print(f"value_pool={pool!s:5}  train loss {value_loss(train):.3f}  held-out loss {value_loss(~train):.3f}  "
              f"corr(value, material) on random positions {np.corrcoef(v, signs)[0, 1]:+.3f}")


if __name__ == "__main__":
    main()
