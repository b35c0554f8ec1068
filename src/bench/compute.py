"""The compute meter every learner reports to, and FLOP counting.

FLOPs of torch models are measured, not guessed: `FlopCounter` runs `torch.utils.flop_counter.FlopCounterMode`
once per (model, batch shape, pass) on a real batch and reuses the figure for every later batch of that shape.
Language-model FLOPs follow the 2 x parameters x tokens rule of Kaplan et al. 2020 ("Scaling Laws for Neural
Language Models", section 2.1: C_forward ~= 2N per token).
"""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, Callable

SAMPLE_KINDS = ("games", "positions", "rollouts", "tasks", "tokens", "simulations")
BUDGET_UNITS = ("train_flops", "total_flops", "wall_s", *SAMPLE_KINDS)


def lm_forward_flops(parameters: int, tokens: int) -> float:
    """Forward FLOPs of a decoder LM: 2 x N x tokens (Kaplan et al. 2020, sec. 2.1)."""
    return 2.0 * parameters * tokens


@dataclass
class ComputeMeter:
    """Counts what a learner spends: FLOPs (training and inference apart), samples by kind, verifier calls, time.

    Wall and CPU seconds accumulate across resumes: `state_dict` stores the totals so far and a resumed meter
    continues from them.
    """

    train_flops: float = 0.0
    infer_flops: float = 0.0
    verifier_calls: int = 0
    samples: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    wall_offset: float = 0.0
    cpu_offset: float = 0.0
    _wall_start: float = field(default_factory=time.perf_counter)
    _cpu_start: float = field(default_factory=time.process_time)
    _paused_wall: float = 0.0
    _paused_cpu: float = 0.0

    def add_train_flops(self, flops: float) -> None:
        self.train_flops += float(flops)

    def add_infer_flops(self, flops: float) -> None:
        self.infer_flops += float(flops)

    def add_samples(self, kind: str, count: float = 1) -> None:
        if kind not in SAMPLE_KINDS:
            raise ValueError(f"unknown sample kind {kind!r}; expected one of {SAMPLE_KINDS}")
        self.samples[kind] += count

    def add_verifier_calls(self, count: int = 1) -> None:
        self.verifier_calls += int(count)

    @property
    def wall_s(self) -> float:
        return self.wall_offset + time.perf_counter() - self._wall_start - self._paused_wall

    @property
    def cpu_s(self) -> float:
        return self.cpu_offset + time.process_time() - self._cpu_start - self._paused_cpu

    def paused(self) -> "_Pause":
        """Context manager: time spent inside (evaluation games) is not charged to the learner."""
        return _Pause(self)

    def spent(self, unit: str) -> float:
        """How much of a budget unit has been used so far."""
        if unit == "train_flops":
            return self.train_flops
        if unit == "total_flops":
            return self.train_flops + self.infer_flops
        if unit == "wall_s":
            return self.wall_s
        if unit in SAMPLE_KINDS:
            return float(self.samples.get(unit, 0.0))
        raise ValueError(f"unknown budget unit {unit!r}; expected one of {BUDGET_UNITS}")

    def snapshot(self) -> dict[str, Any]:
        """The `compute` and `samples` blocks of a metrics record."""
        return {
            "compute": {
                "train_flops": self.train_flops,
                "infer_flops": self.infer_flops,
                "wall_s": round(self.wall_s, 3),
                "cpu_s": round(self.cpu_s, 3),
                "verifier_calls": self.verifier_calls,
            },
            "samples": {kind: self.samples[kind] for kind in sorted(self.samples) if self.samples[kind]},
        }

    def state_dict(self) -> dict[str, Any]:
        return {
            "train_flops": self.train_flops,
            "infer_flops": self.infer_flops,
            "verifier_calls": self.verifier_calls,
            "samples": dict(self.samples),
            "wall_s": self.wall_s,
            "cpu_s": self.cpu_s,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.train_flops = float(state["train_flops"])
        self.infer_flops = float(state["infer_flops"])
        self.verifier_calls = int(state["verifier_calls"])
        self.samples = defaultdict(float, state["samples"])
        self.wall_offset, self.cpu_offset = float(state["wall_s"]), float(state["cpu_s"])
        self._wall_start, self._cpu_start = time.perf_counter(), time.process_time()
        self._paused_wall = self._paused_cpu = 0.0


class _Pause:
    def __init__(self, meter: ComputeMeter) -> None:
        self.meter = meter

    def __enter__(self) -> None:
        self.wall, self.cpu = time.perf_counter(), time.process_time()

    def __exit__(self, *exc: object) -> None:
        self.meter._paused_wall += time.perf_counter() - self.wall
        self.meter._paused_cpu += time.process_time() - self.cpu


class FlopCounter:
    """Measured FLOPs per call, cached by key (e.g. the batch shape).

    `count(key, run)` runs `run()` under FlopCounterMode the first time a key is seen and returns the measured
    total; later calls with the same key return the cached figure without running anything.
    """

    def __init__(self) -> None:
        self._cache: dict[Any, float] = {}

    def count(self, key: Any, run: Callable[[], Any]) -> float:
        if key not in self._cache:
            from torch.utils.flop_counter import FlopCounterMode

            with FlopCounterMode(display=False) as mode:
                run()
            self._cache[key] = float(mode.get_total_flops())
        return self._cache[key]

    def known(self, key: Any) -> float | None:
        return self._cache.get(key)


def forward_flops(counter: FlopCounter, model: Any, batch: Any, tag: str = "forward") -> float:
    """FLOPs of one forward pass of `model` on `batch` (a tensor), measured once per shape."""
    import torch

    def run() -> None:
        with torch.no_grad():
            model(batch)

    return counter.count((tag, id(model), tuple(batch.shape)), run)


def per_position_flops(counter: FlopCounter, model: Any, example: Any, tag: str = "forward") -> float:
    """FLOPs per position of a forward pass, measured on a real batch `example` and divided by its size."""
    return forward_flops(counter, model, example, tag) / max(1, int(example.shape[0]))


__all__ = [
    "BUDGET_UNITS",
    "SAMPLE_KINDS",
    "ComputeMeter",
    "FlopCounter",
    "forward_flops",
    "lm_forward_flops",
    "per_position_flops",
]
