"""conf/learner/rlvr.yaml composes into the typed schema, and a tiny end-to-end run writes rlvr records."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.learners.rlvr.config import RlvrConfig
from bench.results import RunDir

TINY_RLVR = [
    "learner=rlvr", "budget.unit=tasks", "budget.amount=4", "budget.evals=1", "budget.eval_at_start=false",
    "learner.grpo.tasks_per_step=2", "learner.grpo.group_size=4", "learner.policy.channels=8",
    "learner.policy.blocks=1", "eval.games=2",
]


def test_rlvr_config_composes(make_cfg) -> None:
    cfg = make_cfg("learner=rlvr")
    assert cfg.learner.name == "rlvr" and cfg.learner.grpo.group_size == 16
    assert [g.name for g in cfg.learner.generators] == ["mate1", "mate2", "mate3", "grab", "finish", "own", "games"]
    assert set(cfg.learner.keys()) == set(RlvrConfig.__dataclass_fields__)
    override = make_cfg("learner=rlvr", "learner.pool.fixed=true", "learner.grpo.kl_coef=0.05")
    assert override.learner.pool.fixed and override.learner.grpo.kl_coef == 0.05


@pytest.mark.stockfish
@pytest.mark.slow
def test_tiny_rlvr_run_end_to_end(make_cfg, run_dir: Path) -> None:
    from bench.run import run

    run(make_cfg(*TINY_RLVR), run_dir=run_dir)
    records = RunDir(run_dir).read_metrics()
    assert len(records) == 1
    info = records[-1]["learner_info"]
    # the default generators are judged by the rules (mates, material, games to the end), so Stockfish may verify
    # none of the 4 tasks: the run's count must be the learner's own, whatever it is
    assert records[-1]["samples"]["tasks"] == 4
    assert records[-1]["compute"]["verifier_calls"] == 4 * info["per_task"]["verifier_calls"]
    assert info["pool"]["capacity"] == 64 and info["per_task"]["rollouts"] == 4
