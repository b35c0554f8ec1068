"""The random learner: never improves. The floor row of every report and the smoke test of the run loop."""

from __future__ import annotations

from typing import Any

from bench.learners import LearnerContext
from bench.players import RandomPlayer


class RandomLearner:
    """Each `improve()` plays nothing and learns nothing; it only counts one sample so budgets advance."""

    name = "random"

    def __init__(self, cfg: Any, context: LearnerContext) -> None:
        self.cfg = cfg
        self.context = context
        self.steps = 0

    def improve(self) -> None:
        self.steps += 1
        self.context.meter.add_samples("games", 1)

    def make_player(self) -> RandomPlayer:
        return RandomPlayer(name="random-learner", seed=self.context.seed)

    def eval_info(self) -> dict[str, Any]:
        return {"steps": self.steps}

    def state_dict(self) -> dict[str, Any]:
        return {"steps": self.steps}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.steps = int(state["steps"])

    def close(self) -> None:
        pass
