"""Learning progress: a periodic log line (no bar) with the budget spent and the learner's latest metrics."""

from __future__ import annotations

import logging

import pytest

from bench.progress import LearningProgress


def test_without_a_bar_a_line_every_period_with_the_metrics(caplog: pytest.LogCaptureFixture) -> None:
    now = [0.0]
    progress = LearningProgress("positions", 1000, enabled=False, every_s=30, clock=lambda: now[0])
    with caplog.at_level(logging.INFO, logger="bench.run"):
        for spent in range(100, 1001, 100):
            now[0] += 10.0  # an improve() every 10 s: a line every third one
            progress.update(spent, {"losses/value": 0.25, "losses/policy": 2.0, "note": "x"})
    assert progress.lines == 3
    lines = [r.getMessage() for r in caplog.records]
    assert lines[0] == "learning: positions 300 of 1000 (30%) value=0.25 policy=2"
    assert lines[-1].startswith("learning: positions 900 of 1000 (90%)")


def test_with_a_bar_it_tracks_the_spent_budget() -> None:
    progress = LearningProgress("tasks", 50, enabled=True)
    progress.update(20, {"losses/loss": 1.5})
    assert progress.bar is not None and progress.bar.n == 20
    progress.update(80)  # overshooting the budget's last improve() stays at the total
    assert progress.bar.n == 50
    progress.close()
