"""The `network` group (issue 14): one typed set of network fields that mcts and rlvr both take, opt-in, each learner
keeping its own default without it."""

from __future__ import annotations

from dataclasses import fields

import pytest
from omegaconf import OmegaConf

from bench.config import CONF_DIR, NetworkConfig
from tests.conftest import compose_config

NETWORK_FIELDS = [f.name for f in fields(NetworkConfig)]
PLACES = {"mcts": "learner", "rlvr": "learner.policy"}
"""Where each learner keeps its network fields: the package a network option is written into."""


def network(cfg: object, learner: str) -> dict[str, object]:
    node = OmegaConf.select(cfg, PLACES[learner])
    return {k: node[k] for k in NETWORK_FIELDS}


@pytest.mark.parametrize("option", sorted(p.stem for p in (CONF_DIR / "network").glob("*.yaml")))
def test_every_network_option_is_a_network_config_both_learners_take(option: str) -> None:
    typed = OmegaConf.merge(OmegaConf.structured(NetworkConfig), OmegaConf.load(CONF_DIR / "network" / f"{option}.yaml"))
    expected = OmegaConf.to_container(typed)
    for learner, place in PLACES.items():
        cfg = compose_config([f"learner={learner}", f"+network@{place}={option}"])
        assert network(cfg, learner) == expected


def test_the_group_is_opt_in_and_the_embedded_defaults_stay() -> None:
    mcts, rlvr = (network(compose_config([f"learner={name}"]), name) for name in PLACES)
    assert mcts == {"blocks": 1, "channels": 16, "policy_head": "attention", "policy_dim": 16, "value_head": "wdl",
                    "value_pool": True}
    assert rlvr == {"blocks": 2, "channels": 32, "policy_head": "attention", "policy_dim": 16, "value_head": "scalar",
                    "value_pool": False}


def test_claim3_runs_both_learners_on_the_shared_network_and_the_command_line_still_wins() -> None:
    shared = {name: network(compose_config(["experiment=claim3", f"+experiment/claim3={name}"]), name)
              for name in PLACES}
    assert shared["mcts"] == shared["rlvr"] == OmegaConf.to_container(OmegaConf.load(CONF_DIR / "network" / "shared.yaml"))
    wider = compose_config(["experiment=claim3", "+experiment/claim3=rlvr", "learner.policy.channels=24"])
    assert network(wider, "rlvr")["channels"] == 24


def test_rlvr_builds_the_network_it_is_given() -> None:
    from bench.compute import ComputeMeter
    from bench.learners import LearnerContext
    from bench.learners.rlvr import RlvrLearner

    cfg = compose_config(["learner=rlvr", "+network@learner.policy=shared"])
    learner = RlvrLearner(cfg.learner, LearnerContext(meter=ComputeMeter(), seed=0, runtime=cfg.runtime,
                                                      stockfish=cfg.stockfish, rungs=list(cfg.ladder.rungs)))
    try:
        built = learner.net.config()
    finally:
        learner.close()
    assert {k: built[k] for k in NETWORK_FIELDS} == network(cfg, "rlvr")
