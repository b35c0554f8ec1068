"""Which policy target lets a 15-minute CPU run learn? (issue 3's diagnosis of the embedded default)

Trains the embedded default's 1x16 net in process for `--improves` self-play improves (128 positions each) with
the chosen policy target, then plays `--games` seeded games against the random mover at 16 simulations
(120-ply cap, material adjudication at 3 pawns), four ways: the trained net as it is, its value with uniform
priors, its priors with value 0, and its value negated. Where `uniform_prior` beats `full`, the learned policy is
what holds the agent back.

    .venv/bin/python benchmarks/mcts_policy_target.py --policy-target visits
    .venv/bin/python benchmarks/mcts_policy_target.py --policy-target completed_q --start-random-plies 80
    .venv/bin/python benchmarks/mcts_policy_target.py --start-random-plies 80 --policy-head attention

Measured (100 improves, 60 games, one core, 2026-11-30): untrained 0.892. `visits`: full 0.408, uniform prior 0.883,
zero value 0.192, negated 0.133. `completed_q` (scale 0.1): full 0.642, uniform prior 0.975. `completed_q` with
random starts (80): full 0.900, uniform prior 0.892; `visits` with random starts: full 0.658, uniform prior 0.925.
With the attention policy head (the default since, `--policy-head attention`, completed-Q, random starts; its own
random initialisation): untrained 0.575; trained full 0.817, uniform prior 0.917, zero value 0.425, negated 0.200.
After 300 improves the learning test (tests/mcts/test_learning.py, 8 simulations, 200 games, 60-ply cap) measures
untrained 0.635 -> trained 0.917 with it, against 0.58 -> 0.61 with the conv head.
"""

from __future__ import annotations

import argparse
import time
from types import SimpleNamespace

import numpy as np
import torch

from bench.compute import ComputeMeter
from bench.learners import LearnerContext
from bench.learners.mcts import MctsLearner, player_from_state
from bench.learners.mcts.arena import score_vs_random

CONFIG = dict(in_process=True, blocks=1, channels=16, value_pool=True, simulations=16, full_search_prob=1.0,
              games_per_worker=32, moves_per_improve=4, max_plies=40, material_margin=1, search_sees_cap=False,
              min_replay=1024, batch_size=128, sample_reuse=2.0, lr=0.003, value_loss_weight=1.0)


def variant(state: dict, kind: str):
    """A 16-simulation player from `state` whose evaluator is altered as `kind` says."""
    player = player_from_state(state, simulations=16)
    evaluate = player.evaluator.evaluate

    def altered(nodes):
        priors, values = evaluate(nodes)
        if kind == "uniform_prior":
            priors = [np.full(len(n.moves), 1.0 / len(n.moves)) for n in nodes]
        elif kind == "zero_value":
            values = np.zeros_like(values)
        elif kind == "neg_value":
            values = -values
        return priors, values

    player.evaluator.evaluate = altered
    return player


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--improves", type=int, default=100)
    ap.add_argument("--games", type=int, default=60)
    ap.add_argument("--policy-target", default="completed_q", choices=["visits", "completed_q"])
    ap.add_argument("--completed-q-scale", type=float, default=0.1)
    ap.add_argument("--start-random-plies", type=int, default=0)
    ap.add_argument("--policy-head", default="conv", choices=["conv", "attention"])
    args = ap.parse_args()
    torch.set_num_threads(1)
    cfg = dict(CONFIG, policy_target=args.policy_target, completed_q_scale=args.completed_q_scale,
               start_random_plies=args.start_random_plies, policy_head=args.policy_head)
    ctx = LearnerContext(meter=ComputeMeter(), seed=0, stockfish=None,
                         runtime=SimpleNamespace(kind="local", device="cpu", workers=1))
    learner = MctsLearner(cfg, ctx)
    start = time.perf_counter()
    untrained = score_vs_random(variant(learner.state_dict(), "full"), args.games, seed=3, max_plies=120)
    print(f"untrained: {untrained:.3f}", flush=True)
    for _ in range(args.improves):
        learner.improve()
    state = learner.state_dict()
    learner.close()
    print(f"trained {args.improves} improves ({learner.totals['positions']} positions), {args.policy_target}, "
          f"start_random_plies={args.start_random_plies}, policy_head={args.policy_head}", flush=True)
    for kind in ("full", "uniform_prior", "zero_value", "neg_value"):
        score = score_vs_random(variant(state, kind), args.games, seed=3, max_plies=120)
        print(f"  {kind:13s} {score:.3f} against the random mover", flush=True)
    print(f"{time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
