"""conf/experiment/claim3.yaml composes into two learners on one footing: the same network, evaluation, ladder,
budget in positions and runtime, swept over both learners and two seeds by one command."""

from __future__ import annotations

from typing import Any

import pytest
from omegaconf import DictConfig, OmegaConf

from bench.run import validate
from tests.conftest import compose_config

LEARNERS = ("mcts", "rlvr")


def network(cfg: DictConfig) -> dict[str, Any]:
    """The network fields, wherever the learner keeps them (mcts: top level; rlvr: `policy`)."""
    learner = OmegaConf.to_container(cfg.learner, resolve=True)
    assert isinstance(learner, dict)
    fields = learner.get("policy", learner)
    return {k: fields[k] for k in ("blocks", "channels", "policy_head", "policy_dim")}


@pytest.fixture(scope="module")
def cfgs() -> dict[str, DictConfig]:
    return {l: compose_config(["experiment=claim3", f"+experiment/claim3={l}"]) for l in LEARNERS}


def test_both_learners_on_one_footing(cfgs: dict[str, DictConfig]) -> None:
    mcts, rlvr = cfgs["mcts"], cfgs["rlvr"]
    assert (mcts.learner.name, rlvr.learner.name) == LEARNERS
    assert network(mcts) == network(rlvr) == {"blocks": 1, "channels": 16, "policy_head": "attention",
                                               "policy_dim": 16}
    for group in ("eval", "ladder", "budget", "runtime"):
        assert OmegaConf.to_container(mcts[group], resolve=True) == OmegaConf.to_container(rlvr[group], resolve=True)
    assert mcts.budget.unit == "positions" and mcts.budget.amount == 60000
    assert mcts.eval.rules == "mate" and mcts.eval.games == 40 and mcts.eval.target_halfwidth is None
    assert mcts.ladder.name == "default"
    for cfg in cfgs.values():
        validate(cfg)


def test_the_command_line_still_wins(cfgs: dict[str, DictConfig]) -> None:
    """A smoke version: `ladder=quick eval=quick eval.games=8 budget.amount=300` over the experiment."""
    small = compose_config(["experiment=claim3", "+experiment/claim3=rlvr", "ladder=quick", "eval=quick",
                            "eval.games=8", "budget.amount=300"])
    assert (small.ladder.name, small.eval.rules, small.eval.games, small.budget.amount) == ("quick", "quick", 8, 300)
    assert network(small) == network(cfgs["mcts"])


def test_one_command_sweeps_both_learners_and_two_seeds() -> None:
    from hydra import compose, initialize_config_dir

    from bench.cli import CONFIG_PATH, register

    register()
    with initialize_config_dir(config_dir=CONFIG_PATH, version_base="1.3"):
        cfg = compose(config_name="config", overrides=["experiment=claim3"], return_hydra_config=True)
    assert dict(cfg.hydra.sweeper.params) == {"+experiment/claim3": "mcts,rlvr", "seed": "0,1"}
    assert cfg.hydra.sweep.dir.startswith("results/claim3/")
    assert cfg.hydra.launcher._target_.endswith("BasicLauncher")  # mcts's workers cannot start in joblib's loky
