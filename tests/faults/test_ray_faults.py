"""A Ray worker killed during mcts self-play or rlvr rollouts: the run should go on with the rest and replace it.

Both do: rlvr's `distributed.RayRollouts` builds a fresh actor and sends the dead one's shard again; mcts's
`workers.RayPool` builds a fresh worker with the newest weights and asks it for the same plies (the dead worker's
games in flight are lost, never half-recorded). Slow: a local Ray cluster takes seconds to start.
"""

from __future__ import annotations

import threading
from types import SimpleNamespace

import pytest
from omegaconf import OmegaConf

from tests.faults.conftest import Ledger

pytestmark = [pytest.mark.slow]

def kill_actor_soon(ray: object, actor: object, delay: float) -> threading.Timer:
    timer = threading.Timer(delay, lambda: ray.kill(actor, no_restart=True))  # type: ignore[attr-defined]
    timer.start()
    return timer


def test_mcts_self_play_survives_a_killed_ray_worker(ledger: Ledger) -> None:
    ray = pytest.importorskip("ray")
    from bench.compute import ComputeMeter
    from bench.learners import LearnerContext
    from bench.learners.mcts import MctsLearner

    context = LearnerContext(meter=ComputeMeter(), seed=0, stockfish=None,
                             runtime=SimpleNamespace(kind="ray", device="cpu", workers=2))
    learner = MctsLearner(dict(blocks=1, channels=8, simulations=6, fast_simulations=2, full_search_prob=0.5,
                               eval_simulations=8, games_per_worker=4, moves_per_improve=24, max_plies=12,
                               min_replay=8, batch_size=16, replay_capacity=500, in_process=False), context)
    try:
        with ledger.fault("Ray worker killed (mcts self-play)"):
            learner.improve()  # the pool is up
            timer = kill_actor_soon(ray, learner.pool.actors[0], 0.3)
            before = context.meter.samples.get("positions", 0)
            learner.improve()
            timer.join()
            learner.improve()
            learner.improve()  # pipelined: plies sent to the dead worker are collected (and replaced) one call later
            assert context.meter.samples["positions"] > before
            assert learner.eval_info()["workers_replaced"] >= 1
    finally:
        learner.close()


def test_rlvr_rollouts_survive_a_killed_ray_worker(ledger: Ledger) -> None:
    ray = pytest.importorskip("ray")
    from bench.compute import ComputeMeter
    from bench.config import RuntimeConfig, RungConfig, StockfishConfig
    from bench.learners import LearnerContext
    from bench.learners.rlvr import RlvrLearner
    from bench.learners.rlvr.config import GeneratorConfig, GrpoConfig, PolicyConfig, RlvrConfig

    cfg = OmegaConf.structured(RlvrConfig(
        policy=PolicyConfig(blocks=1, channels=8), grpo=GrpoConfig(tasks_per_step=8, group_size=8),
        generators=[GeneratorConfig(name="mates", source="mate_in_one", verifier="mate", horizon=1)]))
    context = LearnerContext(meter=ComputeMeter(), seed=0, runtime=OmegaConf.structured(RuntimeConfig(kind="ray", workers=2)),
                             stockfish=OmegaConf.structured(StockfishConfig()),
                             rungs=[OmegaConf.structured(RungConfig(name="random", kind="random"))])
    learner = RlvrLearner(cfg, context)
    try:
        with ledger.fault("Ray worker killed (rlvr rollouts)"):
            learner.improve()
            timer = kill_actor_soon(ray, learner.rollouts.actors[0], 0.05)
            learner.improve()
            timer.join()
            learner.improve()
            assert context.meter.samples["rollouts"] == 3 * 64
            assert learner.eval_info()["workers_replaced"] >= 1  # counted in the records
    finally:
        learner.close()
