"""Progress while a learner learns: a bar over the budget (or, without bars, a log line every `every_s` seconds)
showing how much of the budget is spent and the learner's latest training metrics (its `train_metrics()`, when it
has one). Evaluations have their own bars (`bench.games.play_match`)."""

from __future__ import annotations

import logging
import time
from typing import Any, Callable

log = logging.getLogger("bench.run")


def _short(metrics: dict[str, Any]) -> str:
    return " ".join(f"{k.split('/')[-1]}={v:.3g}" for k, v in metrics.items() if isinstance(v, (int, float)))


class LearningProgress:
    """One bar for the whole budget; `update(spent, metrics)` after every `improve()`."""

    def __init__(self, unit: str, amount: float, enabled: bool, every_s: float = 30.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.unit, self.amount, self.every_s, self.clock = unit, float(amount), every_s, clock
        self.bar = None
        if enabled:
            from tqdm import tqdm

            self.bar = tqdm(total=self.amount, desc=f"learning ({unit})", unit=unit, leave=False, dynamic_ncols=True)
        self.last_line = clock()
        self.lines = 0

    def update(self, spent: float, metrics: dict[str, Any] | None = None) -> None:
        metrics = metrics or {}
        if self.bar is not None:
            self.bar.n = min(spent, self.amount)
            if metrics:
                self.bar.set_postfix_str(_short(metrics), refresh=False)
            self.bar.refresh()
            return
        now = self.clock()
        if now - self.last_line >= self.every_s:
            self.last_line = now
            self.lines += 1
            log.info("learning: %s %.4g of %.4g (%.0f%%) %s", self.unit, spent, self.amount,
                     100.0 * spent / self.amount if self.amount else 100.0, _short(metrics))

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
