"""The autocurriculum: generators that make candidate tasks, and a pool that keeps the ones the policy is learning.

Every GRPO step trains on tasks drawn from the pool plus a few fresh candidates. A group of G rollouts is also a
free estimate of the task's success rate (its mean reward), so a candidate is kept when that rate lies inside the
band and its rewards differ (a group with equal rewards carries no GRPO signal), and discarded otherwise. Pool
tasks whose rate stays above the band retire as solved, those that stay below (or flat) are dropped, and tasks
used `max_uses` times expire, so the pool follows the policy's frontier ("learning progress" selection, as in
Portelas et al. 2020's survey of automatic curriculum learning). `fixed=True` turns this off: a fixed task list.
"""

from __future__ import annotations

import logging
import random
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from bench.errors import BenchError
from bench.learners.rlvr.sources import (
    EndgameSource,
    FileSource,
    LadderGamesSource,
    MateInOneSource,
    OpeningSource,
    PositionSource,
    RandomPlaySource,
    ReservoirSource,
    StartSource,
)
from bench.learners.rlvr.tasks import VERIFIERS, Task

log = logging.getLogger(__name__)


class Generator:
    """Makes tasks of one kind: positions from a source, scored by one verifier against one opponent."""

    def __init__(self, cfg: Any, max_tries: int, reservoir: ReservoirSource, run_dir: Path | None) -> None:
        self.cfg = cfg
        self.name = str(cfg.name)
        if cfg.verifier not in VERIFIERS:
            raise BenchError(f"generator {self.name}: unknown verifier {cfg.verifier!r}; choose one of {VERIFIERS}")
        if int(cfg.horizon) < 1:
            raise BenchError(f"generator {self.name}: horizon must be at least 1, got {cfg.horizon}")
        self.file: FileSource | None = None
        self.source: PositionSource | None = None
        fallback = RandomPlaySource(int(cfg.min_ply), int(cfg.max_ply))
        kind = str(cfg.source)
        if kind == "file":
            if not cfg.path:
                raise BenchError(f"generator {self.name}: source=file needs path=<EPD/FEN file>")
            defaults = {"verifier": cfg.verifier, "horizon": cfg.horizon, "opponent": cfg.opponent, "generator": self.name}
            self.file = FileSource(str(cfg.path), defaults)
        elif kind == "start":
            self.source = StartSource()
        elif kind == "openings":
            self.source = OpeningSource(cfg.path)
        elif kind == "random_play":
            self.source = fallback
        elif kind == "rollouts":
            self.source = reservoir
        elif kind == "ladder_games":
            self.source = LadderGamesSource(run_dir, fallback)
        elif kind == "endgame":
            self.source = EndgameSource(str(cfg.material), max_tries)
        elif kind == "mate_in_one":
            self.source = MateInOneSource(int(cfg.min_ply), int(cfg.max_ply), max_tries)
        else:
            raise BenchError(
                f"generator {self.name}: unknown source {kind!r}; choose start, openings, random_play, rollouts, "
                "ladder_games, endgame, mate_in_one or file"
            )
        self.counter = 0
        self.max_tries = max_tries

    def make(self, rng: random.Random) -> Task:
        self.counter += 1
        if self.file is not None:
            return self.file.sample_task(rng)
        assert self.source is not None
        for _ in range(self.max_tries):
            board = self.source.sample(rng)
            if board.is_valid() and not board.is_game_over(claim_draw=False):
                break
        else:
            raise BenchError(f"generator {self.name}: {self.max_tries} positions in a row were over or illegal")
        return Task(
            fen=board.fen(), verifier=str(self.cfg.verifier), horizon=int(self.cfg.horizon),
            opponent=str(self.cfg.opponent), generator=self.name, task_id=f"{self.name}.{self.counter}",
        )

    def all_tasks(self) -> list[Task] | None:
        """Every task of a file generator (a fixed list), None for open-ended generators."""
        return list(self.file.tasks) if self.file is not None else None


@dataclass
class Entry:
    task: Task
    rate: float
    uses: int = 1
    above: int = 0
    below: int = 0


class TaskPool:
    """Tasks inside the success-rate band; see the module docstring for the rules."""

    def __init__(self, cfg: Any, generators: Sequence[Generator], rng: random.Random) -> None:
        if not generators:
            raise BenchError("the rlvr learner needs at least one task generator (learner.generators)")
        self.cfg = cfg
        self.low, self.high = float(cfg.band[0]), float(cfg.band[1])
        if not 0.0 <= self.low < self.high <= 1.0:
            raise BenchError(f"pool.band must satisfy 0 <= low < high <= 1, got {list(cfg.band)}")
        self.generators = {g.name: g for g in generators}
        if len(self.generators) != len(generators):
            raise BenchError("learner.generators: every generator needs a distinct name")
        weights = np.array([float(g.cfg.weight) for g in generators])
        if (weights < 0).any() or weights.sum() <= 0:
            raise BenchError("learner.generators: weights must be >= 0 with a positive sum")
        self.weights = weights / weights.sum()
        self.rng = rng
        self.entries: dict[str, Entry] = {}
        self.counts: Counter[str] = Counter()
        self.steps_since_admit = 0
        self._starved_warned = False
        if cfg.fixed:
            self._fill_fixed()

    def _fill_fixed(self) -> None:
        for gen in self.generators.values():
            tasks = gen.all_tasks()
            if tasks is None:
                tasks = [gen.make(self.rng) for _ in range(max(1, int(self.cfg.size) // len(self.generators)))]
            for task in tasks:
                self.entries[self.key(task)] = Entry(task, rate=0.5, uses=0)
                self.counts[f"generated/{gen.name}"] += 1

    @staticmethod
    def key(task: Task) -> str:
        return f"{task.generator}|{task.fen}|{task.verifier}|{task.horizon}|{task.opponent}"

    def fresh(self, n: int) -> list[Task]:
        """n new candidates, generators drawn by their weights."""
        names = list(self.generators)
        out = []
        for _ in range(n):
            gen = self.generators[names[int(self.rng.choices(range(len(names)), weights=self.weights)[0])]]
            task = gen.make(self.rng)
            self.counts[f"generated/{gen.name}"] += 1
            out.append(task)
        return out

    def batch(self, n: int) -> list[tuple[Task, bool]]:
        """n tasks for one step: (task, is_fresh). Pool tasks first, candidates fill the rest (all of it if empty)."""
        if n < 1:
            raise BenchError("grpo.tasks_per_step must be at least 1")
        if self.cfg.fixed:
            if not self.entries:
                raise BenchError("the fixed task pool is empty; check learner.generators")
            keys = list(self.entries)
            chosen = self.rng.sample(keys, n) if len(keys) >= n else [self.rng.choice(keys) for _ in range(n)]
            return [(self.entries[k].task, False) for k in chosen]
        fresh_n = min(n, int(self.cfg.fresh_per_step))
        keys = list(self.entries)
        take = min(len(keys), n - fresh_n)
        chosen = self.rng.sample(keys, take)
        out = [(self.entries[k].task, False) for k in chosen]
        out += [(t, True) for t in self.fresh(n - take)]
        return out

    def _verdict(self, rewards: np.ndarray) -> str:
        mean = float(rewards.mean())
        if mean >= self.high:
            return "easy"
        if mean <= self.low:
            return "hard"
        if float(rewards.max() - rewards.min()) < 1e-6:
            return "flat"
        return "in_band"

    def update(self, results: Sequence[tuple[Task, bool, np.ndarray]]) -> None:
        """Record each task's group rewards: admit, keep, retire, drop or expire."""
        admitted = False
        for task, is_fresh, rewards in results:
            key, verdict, mean = self.key(task), self._verdict(rewards), float(rewards.mean())
            if self.cfg.fixed:
                entry = self.entries[key]
                entry.rate = mean if entry.uses == 0 else (1 - self.cfg.ema) * entry.rate + self.cfg.ema * mean
                entry.uses += 1
                continue
            if is_fresh:
                if key in self.entries:
                    continue
                if verdict == "in_band":
                    self._admit(Entry(task, rate=mean))
                    self.counts[f"admitted/{task.generator}"] += 1
                    admitted = True
                else:
                    self.counts[f"rejected_{verdict}/{task.generator}"] += 1
                continue
            entry = self.entries.get(key)
            if entry is None:
                continue
            entry.rate = (1 - self.cfg.ema) * entry.rate + self.cfg.ema * mean
            entry.uses += 1
            entry.above = entry.above + 1 if verdict == "easy" else 0
            entry.below = entry.below + 1 if verdict in ("hard", "flat") else 0
            if entry.above >= self.cfg.retire_after:
                self._remove(key, "retired")
            elif entry.below >= self.cfg.drop_after:
                self._remove(key, "dropped")
            elif entry.uses >= self.cfg.max_uses:
                self._remove(key, "expired")
        if self.cfg.fixed:
            return
        self.steps_since_admit = 0 if admitted else self.steps_since_admit + 1
        if self.steps_since_admit >= self.cfg.starve_warn_steps and not self._starved_warned:
            log.warning(
                "rlvr task pool: no candidate landed in the band [%.2f, %.2f] for %d steps; training goes on with "
                "unfiltered fresh candidates (widen pool.band or change the generators)",
                self.low, self.high, self.steps_since_admit,
            )
            self._starved_warned = True
        if admitted:
            self._starved_warned = False

    def _admit(self, entry: Entry) -> None:
        if len(self.entries) >= int(self.cfg.size):
            oldest = max(self.entries, key=lambda k: self.entries[k].uses)
            self._remove(oldest, "evicted")
        self.entries[self.key(entry.task)] = entry

    def _remove(self, key: str, why: str) -> None:
        entry = self.entries.pop(key)
        self.counts[f"{why}/{entry.task.generator}"] += 1
        self.counts[why] += 1

    def stats(self) -> dict[str, Any]:
        rates = np.array([e.rate for e in self.entries.values()])
        hist = np.histogram(rates, bins=10, range=(0.0, 1.0))[0].tolist() if len(rates) else [0] * 10
        by_generator = Counter(e.task.generator for e in self.entries.values())
        return {
            "size": len(self.entries),
            "capacity": int(self.cfg.size),
            "band": [self.low, self.high],
            "fixed": bool(self.cfg.fixed),
            "success_mean": float(rates.mean()) if len(rates) else None,
            "success_histogram": hist,
            "in_pool_by_generator": dict(by_generator),
            "retired": int(self.counts["retired"]),
            "dropped": int(self.counts["dropped"]),
            "expired": int(self.counts["expired"]),
            "evicted": int(self.counts["evicted"]),
            "steps_since_admit": self.steps_since_admit,
            "counts": {k: int(v) for k, v in sorted(self.counts.items()) if "/" in k},
        }

    def state_dict(self) -> dict[str, Any]:
        return {
            "entries": [
                {"task": e.task.to_dict(), "rate": e.rate, "uses": e.uses, "above": e.above, "below": e.below}
                for e in self.entries.values()
            ],
            "counts": dict(self.counts),
            "steps_since_admit": self.steps_since_admit,
            "generator_counters": {name: g.counter for name, g in self.generators.items()},
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.entries = {}
        for d in state["entries"]:
            entry = Entry(Task.from_dict(d["task"]), d["rate"], d["uses"], d["above"], d["below"])
            self.entries[self.key(entry.task)] = entry
        self.counts = Counter(state["counts"])
        self.steps_since_admit = int(state["steps_since_admit"])
        for name, count in state.get("generator_counters", {}).items():
            if name in self.generators:
                self.generators[name].counter = int(count)
