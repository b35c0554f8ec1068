"""Optional experiment loggers: scalars from a record, TensorBoard event files, W&B calls (offline), off by default."""

from __future__ import annotations

import sys
import types
from pathlib import Path
from typing import Any

import pytest

from bench.errors import BenchError
from bench.report.tracking import TrackerConfig, open_tracker, scalars
from tests.report.synthetic import record

REC = record(2, -300.0, 100.0, {"train_flops": 1e12, "wall_s": 5.0}, {"games": 40}, "mcts", 0,
             {"eval_simulations": 64, "losses": {"policy": 2.5}, "backend": "text", "flag": True},
             edge=None)


EXPECTED = {
    "eval/elo": -300.0, "eval/elo_low": -400.0, "eval/elo_high": -200.0, "eval/elo_se": REC["elo_se"],
    "eval/games": 8.0, "budget/spent": 0.0, "compute/cpu_s": 0.0, "compute/infer_flops": 0.0,
    "compute/train_flops": 1e12, "compute/verifier_calls": 0.0, "compute/wall_s": 5.0, "samples/games": 40.0,
    "learner/eval_simulations": 64.0, "learner/losses/policy": 2.5,
}
"""REC's scalars written out by hand: every numeric field, namespaced; strings, booleans and bookkeeping (the
ladder, the rungs, the seed) left out. A tracker must deliver exactly these, at step 2 (REC's eval_index)."""


def test_scalars_of_a_record_are_the_hand_written_ones() -> None:
    assert scalars(REC) == EXPECTED
    odd = {**REC, "compute": {**REC["compute"], "wall_s": float("nan"), "cpu_s": float("-inf"), "done": True},
           "elo_ci": [float("-inf"), -200.0]}
    assert scalars(odd) == {k: v for k, v in EXPECTED.items()
                            if k not in ("compute/wall_s", "compute/cpu_s", "eval/elo_low")}


def test_scalars_are_namespaced_and_numeric() -> None:
    s = scalars({**REC, "elo_ci": [-400.0, float("inf")]})
    assert s["eval/elo"] == -300 and s["eval/elo_low"] == -400 and "eval/elo_high" not in s
    assert s["compute/train_flops"] == 1e12 and s["samples/games"] == 40
    assert s["learner/eval_simulations"] == 64 and s["learner/losses/policy"] == 2.5
    assert "learner/backend" not in s and "learner/flag" not in s


def test_off_by_default(tmp_path: Path) -> None:
    assert open_tracker(None, tmp_path, {}) is None
    assert open_tracker(TrackerConfig(), tmp_path, {}) is None
    with pytest.raises(BenchError, match="tracker.kind='mlflow'"):
        open_tracker(TrackerConfig(kind="mlflow"), tmp_path, {})


def test_wandb_offline_calls(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: dict[str, Any] = {"log": []}

    class FakeRun:
        def log(self, data: dict[str, float], step: int) -> None:
            calls["log"].append((step, data))

        def finish(self) -> None:
            calls["finished"] = True

    def init(**kwargs: Any) -> FakeRun:
        calls["init"] = kwargs
        return FakeRun()

    monkeypatch.setitem(sys.modules, "wandb", types.SimpleNamespace(init=init))
    monkeypatch.delenv("WANDB_MODE", raising=False)
    tracker = open_tracker(TrackerConfig(kind="wandb", project="p"), tmp_path / "run1", {"seed": 0})
    tracker.log(REC)
    tracker.close()
    assert calls["init"]["mode"] == "offline" and calls["init"]["project"] == "p"
    assert calls["init"]["config"] == {"seed": 0} and calls["init"]["dir"] == str(tmp_path / "run1")
    assert calls["log"] == [(2, EXPECTED)] and calls["finished"]
    monkeypatch.setenv("WANDB_MODE", "disabled")  # a mode the user set is kept, never forced offline
    open_tracker(TrackerConfig(kind="wandb"), tmp_path / "run2", {}).close()
    assert calls["init"]["mode"] == "disabled" and calls["init"]["project"] == "bench"


def test_tensorboard_event_files(tmp_path: Path) -> None:
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    tracker = open_tracker(TrackerConfig(kind="tensorboard"), tmp_path, {"learner": {"name": "mcts"}})
    tracker.log(REC)
    tracker.log({**REC, "eval_index": 3, "elo": -200.0})
    tracker.close()
    events = EventAccumulator(str(tmp_path / "tensorboard"))
    events.Reload()
    assert [(e.step, e.value) for e in events.Scalars("eval/elo")] == [(2, -300.0), (3, -200.0)]
    assert set(events.Tags()["scalars"]) == set(EXPECTED)  # every scalar written, nothing else
    for name, value in EXPECTED.items():  # as float32, at both steps
        written = events.Scalars(name)
        assert [e.step for e in written] == [2, 3], name
        assert [e.value for e in written] == pytest.approx([value, -200.0 if name == "eval/elo" else value],
                                                           rel=1e-6), name
