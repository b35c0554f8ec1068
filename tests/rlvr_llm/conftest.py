"""Fixtures for the rlvr_llm tests: icl's tiny random Llama (SmolLM2's tokenizer, 2 layers, no download) and a
learner built on it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench.compute import ComputeMeter
from bench.learners import LearnerContext
from tests.conftest import compose_config
from tests.icl.conftest import smol_dir, tiny_dir  # noqa: F401 (fixtures, imported where they live)

MATES = Path(__file__).resolve().parents[2] / "conf" / "tasks" / "mate_in_one.epd"


def rlvr_llm_cfg(model: Path, *overrides: str) -> Any:
    """The learner's config on `model`, one small generator (a fixed slice of mate_in_one.epd), a small held-out set."""
    return compose_config(["learner=rlvr_llm", "ladder=quick", "eval=quick", "progress=false", f"llm.model={model}",
                           "learner.grpo.tasks_per_step=2", "learner.grpo.group_size=4", "learner.heldout.count=4",
                           "learner.threads=1", *overrides])


def make_learner(cfg: Any, run_dir: Path | None = None, meter: ComputeMeter | None = None, seed: int = 3) -> Any:
    from bench.learners.rlvr_llm.learner import RlvrLlmLearner

    context = LearnerContext(meter=meter or ComputeMeter(), seed=seed, runtime=cfg.runtime, stockfish=cfg.stockfish,
                             rungs=list(cfg.ladder.rungs), llm=cfg.llm, run_dir=run_dir, progress=False)
    return RlvrLlmLearner(cfg.learner, context)
from tests.faults.conftest import det_conf  # noqa: E402,F401 (the det ladder for the resume test)
