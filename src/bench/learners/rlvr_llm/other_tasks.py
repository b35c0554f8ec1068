"""A non-chess family (`families.py`) inside the rlvr_llm learner: its generators for rlvr's pool, its rollouts and
its held-out set, so the GRPO step, the pool, the counters and the records are the chess ones (issue 19).

A family task is rlvr's `Task` carrying the problem's key where a chess task carries its FEN (`Task.fen`), with
verifier `family` and horizon 1, so rlvr's `TaskPool` (the autocurriculum: keep instances inside the success band)
and its checkpoints take it unchanged. A rollout is one answer: the model's policy is the softmax over the
candidates' log-likelihoods after the prompt (action=choice, as for chess moves: every answer well-formed and its
log-probability exact), the family's checker scores the chosen answer 1 or 0, and the learner's `_train_choice`
trains on it with the prompt the rollout saw. Why choice and not text: a 135M model writing digits and names
mostly fails on format first (the reward then teaches the format, not the task), sampling text costs a forward pass
per token, and chess runs in choice mode by default; one scoring pass per problem keeps a step within seconds on a
CPU core.

Counters: every rollout is a rollout, every problem a task, every checked answer a verifier call, and the model's
tokens and FLOPs go through the learner's `_count` exactly as for chess.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from bench.elo import wilson
from bench.errors import BenchError
from bench.learners.icl.prompts import Prompt
from bench.learners.rlvr.tasks import Task
from bench.learners.rlvr_llm import families
from bench.learners.rlvr_llm.heldout import HeldoutSet
from bench.learners.rlvr_llm.policy import policy_logprobs

VERIFIER = "family"
"""`Task.verifier` of a family task (the family's checker; not one of rlvr's chess verifiers)."""


@dataclass(frozen=True)
class FamilyGeneratorConfig:
    """What rlvr's `TaskPool` reads of a generator's config, and the difficulty."""

    name: str
    weight: float
    difficulty: int


class FamilyGenerator:
    """Training instances of one family at one difficulty, never from the held-out part of its space (rlvr's
    `Generator` interface: `name`, `cfg.weight`, `counter`, `make`, `all_tasks`)."""

    def __init__(self, fam: families.Family, difficulty: int, fraction: float) -> None:
        self.family, self.fraction = fam, fraction
        self.name = f"{fam.name}{difficulty}"
        self.cfg = FamilyGeneratorConfig(self.name, 1.0, difficulty)
        self.counter = 0

    def make(self, rng: random.Random) -> Task:
        self.counter += 1
        key = families.draw_key(self.family, rng, self.cfg.difficulty, False, self.fraction)
        return Task(fen=key, verifier=VERIFIER, horizon=1, opponent="random", generator=self.name,
                    task_id=f"{self.name}.{self.counter}")

    def all_tasks(self) -> list[Task] | None:
        return None


def prompt_of(problem: families.Problem) -> Prompt:
    return Prompt(problem.system, "", problem.question)


def generators(cfg: Any) -> list[FamilyGenerator]:
    fam = families.family(str(cfg.name))
    return [FamilyGenerator(fam, int(d), float(cfg.heldout_fraction)) for d in cfg.difficulty]


def check_config(cfg: Any, action: str) -> None:
    fam = families.family(str(cfg.name))
    if action != "choice":
        raise BenchError(f"learner.family.name={cfg.name} trains with learner.action=choice (see other_tasks.py)")
    if int(cfg.choices) < 2 or not 0.0 < float(cfg.heldout_fraction) < 1.0 or not list(cfg.difficulty):
        raise BenchError("learner.family: choices >= 2, 0 < heldout_fraction < 1 and at least one difficulty")
    for d in list(cfg.difficulty) + ([int(cfg.heldout_difficulty)] if int(cfg.heldout_difficulty) else []):
        if not fam.min_difficulty <= int(d) <= fam.max_difficulty:
            raise BenchError(f"learner.family: {fam.name} difficulty {d} outside [{fam.min_difficulty}, "
                             f"{fam.max_difficulty}]")


def choose(learner: Any, problem: families.Problem, n: int, temperature: float, greedy: bool) \
        -> tuple[list[int], list[float], torch.Tensor]:
    """(chosen candidate indices, their log-probabilities at `temperature`, every candidate's log-likelihood)."""
    logliks = learner.score_answers(prompt_of(problem), list(problem.candidates))
    logp = policy_logprobs(logliks, temperature)
    if greedy:
        picks = [int(torch.argmax(logliks))] * n
    else:
        picks = torch.multinomial(logp.exp(), n, replacement=True, generator=learner.generator).tolist()
    return [int(p) for p in picks], [float(logp[p]) for p in picks], logliks


def rollouts(learner: Any, tasks: list[Task], group: int, temperature: float, greedy: bool = False) -> Any:
    """G answers to each task's problem, checked: the learner's `Step` (one position per task)."""
    from bench.learners.rlvr_llm.learner import Position, Step

    fam = families.family(str(learner.cfg.family.name))
    choices = int(learner.cfg.family.choices)
    step = Step()
    rewards = np.zeros((len(tasks), group), dtype=np.float32)
    for t, task in enumerate(tasks):
        problem = families.problem(fam.name, task.fen, choices)
        picks, logps, _ = choose(learner, problem, group, temperature, greedy)
        step.positions.append(Position(None, [], list(problem.candidates), prompt=prompt_of(problem)))
        verdicts = {p: fam.check(problem.key, problem.candidates[p]) for p in set(picks)}
        for k, (pick, logp) in enumerate(zip(picks, logps)):
            step.move_position.append(len(step.positions) - 1)
            step.actions.append(pick)
            step.logp_old.append(logp)
            step.rollout.append(t * group + k)
            step.texts.append(None)
            rewards[t, k] = 1.0 if verdicts[pick] else 0.0
        step.plies += group
        step.verifier_calls += group
    step.rewards = rewards
    return step


class FamilyHeldout:
    """Held-out problems of a family (keys from the held-out part of its space only), scored greedily and by the
    exact expected reward at the training temperature, in the chess held-out set's format (`HeldoutSet.compare`)."""

    name = "heldout"
    compare = staticmethod(HeldoutSet.compare)

    def __init__(self, cfg: Any) -> None:
        self.family = families.family(str(cfg.name))
        self.choices = int(cfg.choices)
        difficulty = int(cfg.heldout_difficulty) or max(int(d) for d in cfg.difficulty)
        self.difficulty = difficulty
        keys = families.heldout_keys(self.family, difficulty, int(cfg.heldout_count), int(cfg.heldout_seed),
                                     float(cfg.heldout_fraction))
        self.tasks = [Task(fen=k, verifier=VERIFIER, horizon=1, opponent="random", generator=self.name,
                           task_id=f"heldout.{i}") for i, k in enumerate(keys)]
        self.keys = set(keys)
        self.fraction = float(cfg.heldout_fraction)

    def contains(self, key: str) -> bool:
        return key in self.keys or families.is_heldout(key, self.fraction)

    def score(self, learner: Any) -> dict[str, Any]:
        temperature = float(learner.cfg.grpo.temperature)
        greedy: list[float] = []
        expected: list[float] = []
        learner.counting = False  # measurement, not learning: no counters
        try:
            for task in self.tasks:
                problem = families.problem(self.family.name, task.fen, self.choices)
                _, _, logliks = choose(learner, problem, 1, temperature, True)
                right = np.array([1.0 if self.family.check(problem.key, c) else 0.0 for c in problem.candidates])
                probs = policy_logprobs(logliks, temperature).exp().numpy()
                greedy.append(float(right[int(torch.argmax(logliks))]))
                expected.append(float(np.dot(probs, right)))
        finally:
            learner.counting = True
        solved = [int(r >= 1.0) for r in greedy]
        n = len(solved)
        mean = float(np.mean(expected)) if expected else 0.0
        se = float(np.std(expected, ddof=1) / np.sqrt(n)) if n > 1 else 0.0
        return {"tasks": n, "solved": sum(solved), "solve_rate": sum(solved) / max(1, n),
                "solve_ci95": wilson(sum(solved), n), "reward_mean": float(np.mean(greedy)) if greedy else 0.0,
                "verifier_calls": n * self.choices, "solved_vector": solved, "step": int(learner.steps),
                "expected_reward": mean, "expected_reward_ci95": [mean - 1.96 * se, mean + 1.96 * se],
                "expected_over": n, "temperature": temperature, "family": self.family.name,
                "difficulty": self.difficulty, "chance": 1.0 / self.choices}


__all__ = ["FamilyGenerator", "FamilyHeldout", "VERIFIER", "check_config", "choose", "generators", "prompt_of",
           "rollouts"]
