"""The held-out task set: fixed tasks scored at every evaluation point and never trained on.

Each task is played greedily (the most likely legal move, as the evaluated player plays) and scored by rlvr's
verifier; for one-move tasks the policy's expected reward at the training temperature is exact as well (every
legal move verified, weighted by its probability), a smoother figure than the greedy solve rate.

What "rises clearly" means (`compare`): the same tasks are scored at every point, so the start and a later point
are compared task by task. `rises_beyond_start` holds when the later solve rate lies above the upper end of the
start's 95% Wilson interval; `paired_p` is the exact one-sided sign (McNemar) test on the tasks whose verdict changed
(solved now but not at the start, against the reverse): the chance of so many gains or more if learning had not
changed the solve probability. Both must hold for `rises_clearly`.
"""

from __future__ import annotations

import math
import random
from typing import Any

import numpy as np
import torch
from omegaconf import OmegaConf

from bench.elo import sign_test, wilson
from bench.learners.rlvr.config import GeneratorConfig
from bench.learners.rlvr.sources import FileSource
from bench.learners.rlvr.tasks import Task
from bench.learners.rlvr.verifiers import Finished
from bench.learners.rlvr_llm.policy import policy_logprobs


class HeldoutSet:
    """Tasks drawn once (seeded) from a task file; positions are compared by their first four FEN fields."""

    name = "heldout"

    def __init__(self, tasks: list[Task]) -> None:
        self.tasks = tasks
        self.keys = {self.key(t.fen) for t in tasks}

    @staticmethod
    def key(fen: str) -> str:
        return " ".join(fen.split()[:4])

    @classmethod
    def from_config(cls, cfg: Any) -> "HeldoutSet":
        if not cfg.path:
            return cls([])
        defaults = {"verifier": str(cfg.verifier), "horizon": int(cfg.horizon), "opponent": "random",
                    "generator": cls.name}
        tasks = list(FileSource(str(cfg.path), defaults).tasks)
        if int(cfg.count) and int(cfg.count) < len(tasks):
            tasks = random.Random(int(cfg.seed)).sample(tasks, int(cfg.count))
        return cls(tasks)

    def params(self, cfg: Any) -> Any:
        """The verifier parameters of the held-out tasks (rlvr's generator config)."""
        return OmegaConf.structured(GeneratorConfig(name=self.name, source="file", path=cfg.path,
                                                    verifier=str(cfg.verifier), horizon=int(cfg.horizon),
                                                    mate_in=int(cfg.mate_in), confirm_nodes=0))

    def contains(self, fen: str) -> bool:
        return self.key(fen) in self.keys

    def score(self, learner: Any) -> dict[str, Any]:
        """Greedy solve rate (and exact expected reward of one-move tasks) of the learner's policy now."""
        temperature = float(learner.cfg.grpo.temperature)
        greedy: list[float] = []
        expected: list[float] = []
        calls = 0
        learner.counting = False  # the held-out set is measurement, not learning: no counters
        try:
            for task in self.tasks:
                params = learner._params_of(task)
                if task.horizon == 1 and task.verifier in ("mate", "material", "game", "capture"):
                    board = task.board()
                    legal, _, logliks = learner.score_position(board)
                    finished = []
                    for move in legal:
                        end = board.copy(stack=False)
                        end.push(move)
                        finished.append(Finished(task, params, board, end, board.turn, 1))
                    rewards, used = learner.verifiers.score(finished)
                    calls += used
                    probs = policy_logprobs(logliks, temperature).exp().numpy()
                    greedy.append(float(rewards[int(torch.argmax(logliks))]))
                    expected.append(float(np.dot(probs, rewards)))
                else:
                    step = learner._rollouts([task], 1, temperature, greedy=True)
                    calls += step.verifier_calls
                    greedy.append(float(step.rewards[0, 0]))
        finally:
            learner.counting = True
        solved = [1 if r >= 1.0 else 0 for r in greedy]
        n = len(solved)
        out: dict[str, Any] = {
            "tasks": n, "solved": int(sum(solved)), "solve_rate": sum(solved) / max(1, n),
            "solve_ci95": wilson(sum(solved), n), "reward_mean": float(np.mean(greedy)) if greedy else 0.0,
            "verifier_calls": calls, "solved_vector": solved, "step": int(learner.steps),
        }
        if expected:
            mean, se = float(np.mean(expected)), float(np.std(expected, ddof=1) / math.sqrt(len(expected))) \
                if len(expected) > 1 else 0.0
            out.update(expected_reward=mean, expected_reward_ci95=[mean - 1.96 * se, mean + 1.96 * se],
                       expected_over=len(expected), temperature=temperature)
        return out

    @staticmethod
    def compare(now: dict[str, Any], start: dict[str, Any]) -> dict[str, Any]:
        """`now` with the start's figures beside it and the verdicts of the module docstring."""
        a, b = start["solved_vector"], now["solved_vector"]
        gains = sum(1 for x, y in zip(a, b) if y and not x)
        losses = sum(1 for x, y in zip(a, b) if x and not y)
        beyond = now["solve_rate"] > start["solve_ci95"][1]
        p = sign_test(gains, losses)
        out = dict(now)
        out.update(start_solve_rate=start["solve_rate"], start_solve_ci95=start["solve_ci95"],
                   start_expected_reward=start.get("expected_reward"), gains=gains, losses=losses, paired_p=p,
                   rises_beyond_start=bool(beyond), rises_clearly=bool(beyond and p < 0.05))
        return out


__all__ = ["HeldoutSet"]
