"""benchmarks/conversion.py end to end on a tiny checkpoint: it loads a run's checkpoint and config, plays the
trained and the untrained agent on the same games, and its figures add up (and its interval maths is right)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
import yaml

from bench.compute import ComputeMeter
from bench.learners import LearnerContext
from bench.learners.mcts import MctsLearner
from bench.results import save_checkpoint
from tests.conftest import load_benchmark


def _conversion():  # noqa: ANN202 - a module loaded by path
    return load_benchmark("conversion")


def test_interval_maths() -> None:
    conv = _conversion()
    low, high = conv.wilson(90, 100)
    assert low == pytest.approx(0.8256, abs=1e-4) and high == pytest.approx(0.9448, abs=1e-4)  # Wilson (1927)
    assert conv.wilson(0, 10)[0] == 0.0 and conv.wilson(10, 10)[1] == 1.0
    mean, lo, hi = conv.mean_interval(np.array([0.0, 1.0, 1.0, 1.0]))
    assert mean == 0.75 and hi - mean == pytest.approx(1.96 * 0.5 / 2)


def test_a_checkpoint_and_its_untrained_agent_on_the_same_games(tmp_path: Path) -> None:
    conv = _conversion()
    torch.set_num_threads(1)
    cfg = dict(in_process=True, blocks=1, channels=8, simulations=4, fast_simulations=2, games_per_worker=4,
               moves_per_improve=2, max_plies=10, min_replay=8, batch_size=8, eval_simulations=4, eval_leaves_per_step=2)
    ctx = LearnerContext(meter=ComputeMeter(), seed=3, runtime=SimpleNamespace(kind="local", device="cpu", workers=1),
                         stockfish=None)
    learner = MctsLearner(cfg, ctx)
    for _ in range(3):
        learner.improve()
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    save_checkpoint(run_dir / "checkpoint.pt", {"learner": learner.state_dict(), "learner_name": "mcts"})
    learner.close()
    saved = {k: v for k, v in learner.cfg_dict.items() if k != "in_process"}  # a run writes every field
    (run_dir / "config.yaml").write_text(yaml.safe_dump({"seed": 3, "learner": saved}))

    out = conv.run(run_dir / "checkpoint.pt", None, games=4, simulations=2, max_plies=24, opening_plies=4, seed=1,
                   workers=1, untrained=True, overrides=[])
    assert out["learner"] == "mcts" and out["seed"] == 3 and out["eval_simulations"] == 2
    for agent in ("trained", "untrained"):
        s = out["agents"][agent]
        assert s["games"] == 4 and s["wins"] + s["losses"] + sum(s["draws"].values()) == 4
        assert 0 <= s["win_rate_ci"][0] <= s["win_rate"] <= s["win_rate_ci"][1] <= 1
    games = {(g["agent"], g["index"]): g for g in out["games_played"]}
    for index in range(4):  # same openings for both agents: the first plies of each game are the same
        assert games[("trained", index)]["final_fen"] and games[("untrained", index)]["plies"] >= 4
    assert len(out["win_difference"]) == 3
    conv.print_table(out)
