"""The icl learner: a language model learning chess in context (issue 5). See learner.py for the loop.

`IclLearner` is imported lazily so that reading the config schemas (bench.learners.icl.config) stays light.
"""

from typing import Any

__all__ = ["IclLearner"]


def __getattr__(name: str) -> Any:
    if name == "IclLearner":
        from bench.learners.icl.learner import IclLearner

        return IclLearner
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
