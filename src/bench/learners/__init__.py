"""The learner registry and the `Learner` protocol.

Every learner is found by grepping `LEARNERS`. Entries are import paths so that asking for `random` never
imports torch or transformers.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Protocol

from bench.compute import ComputeMeter
from bench.players import Player

LEARNERS: dict[str, str] = {
    "random": "bench.learners.random:RandomLearner",
    "mcts": "bench.learners.mcts:MctsLearner",
    "rlvr": "bench.learners.rlvr:RlvrLearner",
    "icl": "bench.learners.icl:IclLearner",
    "rlvr_llm": "bench.learners.rlvr_llm:RlvrLlmLearner",
}
"""Learner name -> `module:Class`; the class is built as `Class(cfg, context)`."""

LEARNER_SCHEMA_PATHS: dict[str, str] = {
    "mcts": "bench.learners.mcts.config:MctsConfig",
    "rlvr": "bench.learners.rlvr.config:RlvrConfig",
    "icl": "bench.learners.icl.config:IclConfig",
    "rlvr_llm": "bench.learners.rlvr_llm.config:RlvrLlmConfig",
}
"""Learner name -> its config dataclass (light modules: no torch at import)."""

LLM_SCHEMA_PATH = "bench.learners.icl.config:LlmConfig"
"""The `llm` group's schema (registered when the icl learner's config module exists)."""


@dataclass
class LearnerContext:
    """What the harness hands a learner: where to report compute, how to seed, where it runs."""

    meter: ComputeMeter
    seed: int
    runtime: Any
    """The `runtime` config group (kind, device, workers)."""
    stockfish: Any
    """The `stockfish` config group, for learners that use an engine (verifiers, opponents, feedback)."""
    rungs: list[Any] = field(default_factory=list)
    """The ladder's rung configs, for learners that train against a rung (rlvr, icl)."""
    llm: Any = None
    """The `llm` config group (backend, model, endpoint), for the icl learner."""
    run_dir: Path | None = None
    """The run directory, for learner-specific files (e.g. a replay buffer snapshot)."""
    progress: bool = True


class Learner(Protocol):
    """A learner improves itself in steps and hands out players that play as it does now."""

    name: str

    def improve(self) -> None:
        """One unit of learning (a self-play generation, a GRPO step, a game in context); reports to the meter."""
        ...

    def make_player(self) -> Player:
        """A player that plays the current policy; called once per concurrent evaluation game slot."""
        ...

    def eval_info(self) -> dict[str, Any]:
        """Extra fields for the evaluation record (e.g. a task pool's statistics, tokens in context)."""
        ...

    def state_dict(self) -> dict[str, Any]:
        ...

    def load_state_dict(self, state: dict[str, Any]) -> None:
        ...

    def close(self) -> None:
        ...


def _load(path: str) -> Any:
    module, _, attr = path.partition(":")
    return getattr(importlib.import_module(module), attr)


def learner_class(name: str) -> Callable[..., Learner]:
    from bench.errors import BenchError

    if name not in LEARNERS:
        raise BenchError(f"unknown learner {name!r}; choose one of {sorted(LEARNERS)}")
    try:
        return _load(LEARNERS[name])
    except ModuleNotFoundError as exc:
        raise BenchError(f"learner {name!r} cannot be imported ({exc}); is its extra installed?") from exc


def load_learner_schemas() -> None:
    """Register each learner's config schema that can be imported (a learner not yet built is skipped)."""
    from bench.config import register_learner_schema, register_llm_schema

    for name, path in LEARNER_SCHEMA_PATHS.items():
        try:
            register_learner_schema(name, _load(path))
        except (ModuleNotFoundError, AttributeError):
            continue
    try:
        register_llm_schema(_load(LLM_SCHEMA_PATH))
    except (ModuleNotFoundError, AttributeError):
        pass
