"""Every learner counted in the same units (issue 14): the counters of every metrics record from evaluation 0 on, the
CPU seconds of mcts's worker processes, and the Stockfish nodes searched for rlvr while it learns."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import chess.engine
import pytest
import torch
from omegaconf import OmegaConf

from bench.compute import OUTSIDE_KNOWLEDGE, SAMPLE_COUNTERS, ComputeMeter
from bench.config import RuntimeConfig, RungConfig, StockfishConfig
from bench.learners import LearnerContext
from bench.results import RunDir
from bench.run import run
from tests.conftest import compose_config
from tests.icl.conftest import smol_dir, tiny_dir  # noqa: F401 (icl's tiny random model, built for the icl case only)

COMPUTE_KEYS = {"train_flops", "infer_flops", "engine_nodes", "engine_new_games", "engine_starts",
                "engine_instructions", "engine_flops", "wall_s", "cpu_s", "verifier_calls", "steps"}
SMALL = {
    "random": ["budget.unit=steps", "budget.amount=1"],
    "mcts": ["budget.unit=positions", "budget.amount=16", "runtime.workers=1", "learner.in_process=true",
             "learner.games_per_worker=4", "learner.moves_per_improve=4", "learner.eval_simulations=4"],
    "rlvr": ["budget.unit=tasks", "budget.amount=2", "learner.grpo.tasks_per_step=2", "learner.grpo.group_size=2",
             "learner.pool.fresh_per_step=2", "learner.engine_workers=1"],
    "icl": ["budget.unit=games", "budget.amount=1", "budget.points=null", "learner.max_plies=8"],
}
EPISODES = {"random": None, "mcts": "games", "rlvr": "rollouts", "icl": "games"}


@pytest.mark.stockfish
@pytest.mark.parametrize("name", list(SMALL))
def test_every_counter_is_in_the_record_from_evaluation_0(name: str, tmp_path: Path,
                                                         request: pytest.FixtureRequest) -> None:
    extra = [f"llm.model={request.getfixturevalue('tiny_dir')}"] if name == "icl" else []
    cfg = compose_config([f"learner={name}", "ladder=quick", "eval=quick", "progress=false", "report=false",
                          "eval.games=2", "eval.max_plies=12", "eval.allow_uncalibrated_rules=true",
                          "budget.evals=1", *SMALL[name], *extra])
    run(cfg, run_dir=tmp_path / "run")
    records = RunDir(tmp_path / "run").read_metrics()
    first, last = records[0], records[-1]
    assert first["eval_index"] == 0 and len(records) == 2
    kind = EPISODES[name]
    for record in (first, last):
        assert set(record["compute"]) >= COMPUTE_KEYS
        assert set(record["samples"]) >= {*SAMPLE_COUNTERS, *([kind] if kind else [])}
        assert record["episode_kind"] == kind
        assert set(record["learner_info"]["outside_knowledge"]) <= set(OUTSIDE_KNOWLEDGE)
    assert all(first["samples"][k] == 0 for k in SAMPLE_COUNTERS)
    if name != "random":
        assert last["samples"]["positions"] > 0 and last["samples"]["forward_passes"] > 0
    if name == "mcts":
        assert last["samples"]["forward_passes"] >= last["samples"]["positions"]  # a search evaluates many leaves
        assert last["learner_info"]["outside_knowledge"] == ["material adjudication"]
    if name == "rlvr":  # the default mix: rules-judged material grabs; no Stockfish while learning
        assert last["samples"]["positions"] == last["samples"]["forward_passes"] == last["samples"]["tokens"]
        assert last["learner_info"]["outside_knowledge"] == ["material adjudication"]
        assert last["compute"]["engine_nodes"] == 0


def test_mcts_cpu_seconds_include_its_worker_processes() -> None:
    """Self-play runs in 2 spawned worker processes: the meter's CPU seconds exceed the main process's own."""
    from bench.learners.mcts import MctsLearner

    torch.set_num_threads(1)
    start = time.process_time()
    meter = ComputeMeter()
    learner = MctsLearner(
        dict(blocks=1, channels=8, simulations=4, full_search_prob=1.0, games_per_worker=4, moves_per_improve=2,
             max_plies=12, min_replay=8, batch_size=16, in_process=False),
        LearnerContext(meter=meter, seed=0, runtime=SimpleNamespace(kind="local", device="cpu", workers=2),
                       stockfish=None))
    try:
        for _ in range(3):
            learner.improve()
        main = time.process_time() - start
        total = meter.cpu_s
    finally:
        learner.close()
    assert meter.samples["forward_passes"] > meter.samples["positions"] > 0
    assert total > main, (total, main)


class NodeTally:
    """Wraps python-chess's SimpleEngine.play and .analyse: sums the nodes every Stockfish answer reported."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.nodes = self.calls = 0
        self._lock = threading.Lock()
        play, analyse = chess.engine.SimpleEngine.play, chess.engine.SimpleEngine.analyse

        def counted_play(engine: Any, *args: Any, **kwargs: Any) -> Any:
            result = play(engine, *args, **kwargs)
            self._add(result.info.get("nodes", 0))
            return result

        def counted_analyse(engine: Any, *args: Any, **kwargs: Any) -> Any:
            info = analyse(engine, *args, **kwargs)
            self._add(info.get("nodes", 0))
            return info

        monkeypatch.setattr(chess.engine.SimpleEngine, "play", counted_play)
        monkeypatch.setattr(chess.engine.SimpleEngine, "analyse", counted_analyse)

    def _add(self, nodes: int) -> None:
        with self._lock:
            self.nodes += int(nodes)
            self.calls += 1


@pytest.mark.stockfish
def test_rlvr_engine_nodes_are_the_nodes_its_verifiers_and_opponents_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    from bench.learners.rlvr import RlvrLearner
    from bench.learners.rlvr.config import GeneratorConfig, GrpoConfig, PolicyConfig, PoolConfig, RlvrConfig

    tally = NodeTally(monkeypatch)
    generators = [
        GeneratorConfig(name="evals", source="random_play", verifier="eval", horizon=1, eval_nodes=64),
        GeneratorConfig(name="games", source="random_play", verifier="result", horizon=3, opponent="sf",
                        adjudicate_nodes=64),
    ]
    cfg = OmegaConf.structured(RlvrConfig(policy=PolicyConfig(blocks=1, channels=8),
                                          grpo=GrpoConfig(tasks_per_step=4, group_size=2),
                                          pool=PoolConfig(size=8, fresh_per_step=4), generators=generators))
    rungs = [OmegaConf.structured(RungConfig(name="random", kind="random")),
             OmegaConf.structured(RungConfig(name="sf", kind="stockfish", nodes=32))]
    meter = ComputeMeter()
    learner = RlvrLearner(cfg, LearnerContext(meter=meter, seed=0, runtime=OmegaConf.structured(RuntimeConfig(workers=2)),
                                              stockfish=OmegaConf.structured(StockfishConfig()), rungs=rungs))
    try:
        for _ in range(2):
            learner.improve()
        info = learner.eval_info()
        both = learner.opponents.nodes > 0 and learner.verifiers.nodes > 0
    finally:
        learner.close()
    assert tally.calls > 0 and meter.engine_nodes > 0 and both  # opponents' replies and verifier analyses
    assert meter.engine_nodes == tally.nodes
    assert meter.engine_new_games >= meter.verifier_calls > 0 and meter.engine_starts >= 2
    assert info["outside_knowledge"] == ["engine opponent", "engine-judged rewards"]
    assert meter.samples["positions"] == meter.samples["forward_passes"] == learner.totals["moves"]
    assert learner.totals["plies"] > learner.totals["moves"]  # the opponent's replies are plies, not positions
