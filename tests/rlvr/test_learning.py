"""A real learning test: GRPO on a small fixed set of mate-in-one tasks raises the greedy solve rate."""

from __future__ import annotations

import time
from pathlib import Path

import chess
import torch
from omegaconf import OmegaConf

from bench.compute import ComputeMeter
from bench.config import CONF_DIR, RuntimeConfig, StockfishConfig
from bench.learners import LearnerContext
from bench.learners.rlvr import RlvrLearner
from bench.learners.rlvr.config import GeneratorConfig, GrpoConfig, PolicyConfig, PoolConfig, RlvrConfig
from bench.learners.rlvr.tasks import load_task_file

TASKS = 16
STEPS = 20


def solve_rate(learner: RlvrLearner, tasks: list) -> float:
    player = learner.make_player()
    solved = 0
    for task in tasks:
        board = chess.Board(task.fen)
        board.push(player.play(board).move)
        solved += board.is_checkmate()
    return solved / len(tasks)


def test_grpo_learns_mate_in_one(tmp_path: Path) -> None:
    torch.manual_seed(0)
    lines = [l for l in (CONF_DIR / "tasks" / "mate_in_one.epd").read_text().splitlines() if not l.startswith("#")]
    path = tmp_path / "m1.epd"
    path.write_text("\n".join(lines[:TASKS]) + "\n")
    cfg = OmegaConf.structured(RlvrConfig(
        policy=PolicyConfig(blocks=1, channels=16),
        grpo=GrpoConfig(tasks_per_step=16, group_size=16, lr=5e-3, epochs=2, entropy_coef=0.0),
        pool=PoolConfig(fixed=True),
        generators=[GeneratorConfig(name="m1", source="file", path=str(path), verifier="mate", horizon=1)],
    ))
    meter = ComputeMeter()
    context = LearnerContext(meter=meter, seed=0, runtime=OmegaConf.structured(RuntimeConfig(workers=1)),
                             stockfish=OmegaConf.structured(StockfishConfig()), rungs=[])
    learner = RlvrLearner(cfg, context)
    tasks = load_task_file(path, {"verifier": "mate", "horizon": 1, "opponent": "random", "generator": "m1"})
    try:
        before = solve_rate(learner, tasks)
        start = time.perf_counter()
        for _ in range(STEPS):
            learner.improve()
        after = solve_rate(learner, tasks)
        print(f"mate-in-one greedy solve rate {before:.3f} -> {after:.3f} over {STEPS} steps "
              f"({time.perf_counter() - start:.1f}s, {meter.samples['rollouts']:.0f} rollouts)")
        # seed 0: 0.0 -> 0.5 (tasks where none of the 16 rollouts ever mates get no signal: GRPO needs pass@G > 0)
        assert before <= 0.2
        assert after >= before + 0.3
        assert meter.verifier_calls == 0  # mate is verified by the rules alone
        assert meter.samples["tokens"] == meter.samples["rollouts"] == STEPS * 16 * 16
    finally:
        learner.close()
