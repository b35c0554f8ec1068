"""The random learner: never improves. The floor row of every report and the smoke test of the run loop."""

from __future__ import annotations

from typing import Any

from bench.learners import LearnerContext
from bench.players import RandomPlayer


class RandomLearner:
    """Each `improve()` plays nothing and learns nothing: every counter stays 0, and only `compute.steps` counts the
    calls, so a budget advances (budget.unit=steps; a budget in games counts steps too, since it plays none)."""

    name = "random"

    def __init__(self, cfg: Any, context: LearnerContext) -> None:
        self.cfg = cfg
        self.context = context
        self.steps = 0
        context.meter.set_episode_kind(None)

    def improve(self) -> None:
        self.steps += 1
        self.context.meter.add_step()

    def make_player(self) -> RandomPlayer:
        return RandomPlayer(name="random-learner", seed=self.context.seed)

    def eval_info(self) -> dict[str, Any]:
        return {"steps": self.steps, "outside_knowledge": []}

    def state_dict(self) -> dict[str, Any]:
        return {"steps": self.steps}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.steps = int(state["steps"])

    def close(self) -> None:
        pass
