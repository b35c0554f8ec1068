"""The rlvr_llm learner: GRPO from verifiable rewards on a language model (issue 15). See learner.py for the loop.

`RlvrLlmLearner` is imported lazily so that reading the config schema (bench.learners.rlvr_llm.config) stays light.
"""

from typing import Any

__all__ = ["RlvrLlmLearner"]


def __getattr__(name: str) -> Any:
    if name == "RlvrLlmLearner":
        from bench.learners.rlvr_llm.learner import RlvrLlmLearner

        return RlvrLlmLearner
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
