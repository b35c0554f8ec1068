"""Every icl config composes: the learner with each llm backend and each prompt file, typed by the schemas."""

from __future__ import annotations

from pathlib import Path

import pytest
from omegaconf import OmegaConf

from bench.learners.icl.prompts import PromptBuilder
from tests.conftest import compose_config

CONF = Path(__file__).resolve().parents[2] / "conf"


@pytest.mark.parametrize("llm", sorted(p.stem for p in (CONF / "llm").glob("*.yaml")))
def test_each_llm_group_composes(llm: str) -> None:
    cfg = compose_config(["learner=icl", f"llm={llm}"])
    assert cfg.llm.backend == llm and cfg.learner.name == "icl"
    assert cfg.llm.api_key_env is None  # no key names by default, and never keys
    OmegaConf.to_container(cfg, resolve=True, throw_on_missing=True)


@pytest.mark.parametrize("prompts", sorted(p.stem for p in (CONF / "prompts").glob("*.yaml")))
def test_each_prompt_file_composes_and_fills_every_template(prompts: str) -> None:
    cfg = compose_config(["learner=icl", f"prompts@learner.prompts={prompts}"])
    PromptBuilder(cfg.learner.prompts)  # checks every field each template uses
    assert cfg.learner.prompts.answer.format(move="e4").strip() == "e4"


def test_defaults_are_the_embedded_score_mode() -> None:
    cfg = compose_config(["learner=icl"])
    assert (cfg.learner.mode, cfg.learner.memory, cfg.llm.backend, cfg.llm.model) == ("score", "context", "embedded",
                                                                                      "smollm2")


def test_unknown_or_mistyped_keys_are_refused() -> None:
    with pytest.raises(Exception, match="nonsense"):
        compose_config(["learner=icl", "learner.nonsense=1"])
    with pytest.raises(Exception, match="max_plies"):
        compose_config(["learner=icl", "learner.max_plies=many"])
