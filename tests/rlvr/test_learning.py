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


GAME_TASKS = 16
GAME_STEPS = 12


def mate_rate(learner: RlvrLearner, tasks: list, games: int, horizon: int) -> float:
    """Share of games, from each task's position against the random mover, that the learner's evaluation player
    wins by checkmate within `horizon` of its moves."""
    from bench.players import RandomPlayer

    player, opponent, mates = learner.make_player(), RandomPlayer(seed=1), 0
    for t, task in enumerate(tasks):
        for g in range(games):
            player.new_game(1000 * t + g)
            opponent.new_game(1000 * t + g)
            board, me = chess.Board(task.fen), chess.Board(task.fen).turn
            for _ in range(2 * horizon):
                if board.is_game_over(claim_draw=True):
                    break
                board.push((player if board.turn == me else opponent).play(board).move)
            mates += board.is_checkmate() and board.turn != me
    return mates / (len(tasks) * games)


def test_grpo_on_game_tasks_raises_wins_by_mate(tmp_path: Path) -> None:
    """Games to the end against the random mover from converter positions with a mate in one (the `game` verifier,
    a 3-move cap, so a slower mate or a draw scores less or nothing): the evaluation player's wins by mate rise."""
    torch.manual_seed(0)
    lines = [l for l in (CONF_DIR / "tasks" / "conversion_m1.epd").read_text().splitlines() if not l.startswith("#")]
    path = tmp_path / "m1.epd"  # the positions only: the mate verifier and horizon of the file's opcodes left out
    path.write_text("\n".join(" ".join(line.split()[:4]) for line in lines[:GAME_TASKS]) + "\n")
    cfg = OmegaConf.structured(RlvrConfig(
        policy=PolicyConfig(blocks=1, channels=16, policy_head="attention", eval_temperature=0.5),
        grpo=GrpoConfig(tasks_per_step=GAME_TASKS, group_size=16, lr=5e-3, epochs=2, entropy_coef=0.0),
        pool=PoolConfig(fixed=True),
        generators=[GeneratorConfig(name="g", source="file", path=str(path), verifier="game", horizon=3)],
    ))
    context = LearnerContext(meter=ComputeMeter(), seed=0, runtime=OmegaConf.structured(RuntimeConfig(workers=1)),
                             stockfish=OmegaConf.structured(StockfishConfig()), rungs=[])
    learner = RlvrLearner(cfg, context)
    defaults = {"verifier": "game", "horizon": 3, "opponent": "random", "generator": "g"}
    tasks = load_task_file(path, defaults)
    try:
        before = mate_rate(learner, tasks, 4, 3)
        start = time.perf_counter()
        for _ in range(GAME_STEPS):
            learner.improve()
        after = mate_rate(learner, tasks, 4, 3)
        print(f"wins by mate within 3 moves vs the random mover {before:.3f} -> {after:.3f} over {GAME_STEPS} steps "
              f"({time.perf_counter() - start:.1f}s)")
        assert after >= before + 0.25
        assert context.meter.verifier_calls == 0  # the game verifier asks no engine
    finally:
        learner.close()
