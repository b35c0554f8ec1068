"""conf/experiment/claim2.yaml (issue 19): every family of the sweep composes, on one learner with one setting,
and each family's held-out set lies outside what it trains on."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from bench.config import CONF_DIR
from bench.learners.rlvr.tasks import load_task_file
from bench.learners.rlvr_llm.heldout import HeldoutSet
from tests.conftest import compose_config

SWEEP = yaml.safe_load((Path(CONF_DIR) / "experiment" / "claim2.yaml").read_text())
FAMILIES = SWEEP["hydra"]["sweeper"]["params"]["+experiment/claim2"].split(",")


def test_the_sweep_covers_two_chess_and_three_other_families() -> None:
    assert sorted(FAMILIES) == ["addition", "capture", "logic", "mate1", "sort"]
    assert len(SWEEP["hydra"]["sweeper"]["params"]["seed"].split(",")) >= 2  # intervals need seeds


@pytest.mark.parametrize("family", FAMILIES + ["reverse", "mate2"])
def test_every_family_composes_on_the_same_learner(family: str) -> None:
    cfg = compose_config(["experiment=claim2", f"+experiment/claim2={family}"])
    assert cfg.learner.name == "rlvr_llm" and cfg.learner.action == "choice"
    assert (cfg.learner.grpo.tasks_per_step, cfg.learner.grpo.group_size, cfg.learner.grpo.lr) == (8, 16, 3e-3)
    assert cfg.budget.eval_at_start and list(cfg.budget.points)[-1] == cfg.budget.amount
    if family in ("mate1", "mate2", "capture"):
        assert cfg.learner.family.name == "chess"
        assert cfg.learner.prompts.check_marks is False  # no "#" to read a mate off
        held = HeldoutSet.from_config(cfg.learner.heldout)
        assert len(held.tasks) == 48
        files = [g for g in cfg.learner.generators if g.source == "file"]
        assert files and all(g.path == cfg.learner.heldout.path for g in files)  # the learner refuses held-out lines
        lines = load_task_file(Path(CONF_DIR) / "tasks" / str(cfg.learner.heldout.path),
                               {"verifier": str(cfg.learner.heldout.verifier), "horizon": 1, "opponent": "random",
                                "generator": "x"})
        assert len(lines) > len(held.tasks)  # tasks are left to train on
    else:
        assert cfg.learner.family.name == family and cfg.learner.family.heldout_count == 48
