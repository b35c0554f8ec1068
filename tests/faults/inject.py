"""`python -m tests.faults.inject [bench overrides]`: `python -m bench` with one fault armed by `BENCH_FAULT`.

`BENCH_FAULT=ACTION:POINT:N` fires at the N-th time the run reaches POINT (counted from 1 in this process):

- points: `improve` (entry of `learner.improve()`), `selfplay` (a network forward pass without gradients inside
  `improve()`: mcts self-play search, rlvr rollouts, icl training games), `optstep` (an optimiser step: training),
  `game` (a finished evaluation game appended to games.pgn), `metrics` (a record appended to metrics.jsonl),
  `checkpoint` (a checkpoint written to its temporary file, not yet renamed over the old one);
- actions: `kill` (SIGKILL this process at once: nothing is flushed, no handler runs), `torn` (for `game` and
  `metrics`: half of the text reaches the disk, then SIGKILL), `enospc` (for `game`, `metrics`, `checkpoint`:
  the write stops half way with `OSError(ENOSPC)`, as on a full disk; the harness handles it), `count` (no
  fault: after every metrics record the arrivals so far at each point are written as JSON to the file named by
  `BENCH_FAULT_COUNTS`, one snapshot per record, so a test can pick a kill point inside a phase).

The faults are injected at real points of a real run, in the process the harness runs in; nothing in `bench` is
changed. Hooks are installed before `bench.__main__` runs.
"""

from __future__ import annotations

import errno
import json
import os
import signal
import sys
from collections import Counter
from typing import Any

ACTIONS = ("kill", "torn", "enospc", "count")
POINTS = ("improve", "selfplay", "optstep", "game", "metrics", "checkpoint", "all")
FILE_POINTS = ("game", "metrics", "checkpoint")


def parse(spec: str) -> tuple[str, str, int]:
    """`ACTION:POINT:N` checked; a bad spec stops the process before anything runs."""
    try:
        action, point, count = spec.split(":")
        number = int(count)
    except ValueError:
        raise SystemExit(f"inject: bad BENCH_FAULT={spec!r}; want ACTION:POINT:N") from None
    valid = {"kill": POINTS[:-1], "torn": ("game", "metrics"), "enospc": FILE_POINTS, "count": ("all",)}
    if action not in valid or point not in valid[action] or (action != "count" and number < 1):
        raise SystemExit(f"inject: bad BENCH_FAULT={spec!r}; valid ACTION:POINT pairs are {valid}")
    return action, point, number


def die() -> None:
    sys.stderr.flush()
    os.kill(os.getpid(), signal.SIGKILL)


def full_disk() -> OSError:
    return OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


class Trigger:
    """Counts arrivals at every point; `reached(point)` is True exactly once, at the N-th arrival at its point."""

    def __init__(self, action: str, point: str, count: int) -> None:
        self.action, self.point, self.count = action, point, count
        self.seen: Counter[str] = Counter()
        self.in_improve = False
        self.snapshots: list[dict[str, int]] = []

    def reached(self, point: str) -> bool:
        self.seen[point] += 1
        return point == self.point and self.seen[point] == self.count

    def dump(self) -> None:
        """Count mode: the arrivals so far, one snapshot per metrics record (phase boundaries for the tests)."""
        if self.action == "count":
            self.snapshots.append(dict(self.seen))
            with open(os.environ["BENCH_FAULT_COUNTS"], "w") as handle:
                json.dump(self.snapshots, handle)


def install(trigger: Trigger) -> None:
    import torch
    import torch.nn.modules.module as torch_module
    import torch.optim.optimizer as torch_optimizer

    import bench.results as results
    import bench.run as run_module

    def forward_hook(module: Any, args: Any) -> None:
        if trigger.in_improve and not torch.is_grad_enabled() and trigger.reached("selfplay"):
            die()

    if trigger.point in ("selfplay", "all"):
        torch_module.register_module_forward_pre_hook(forward_hook)
    if trigger.point in ("optstep", "all"):
        def step_hook(optimizer: Any, args: Any, kwargs: Any) -> None:
            if trigger.reached("optstep"):
                die()

        torch_optimizer.register_optimizer_step_pre_hook(step_hook)
    original_class = run_module.learner_class

    def learner_class(name: str) -> Any:
        cls = original_class(name)

        def build(cfg: Any, context: Any) -> Any:
            learner = cls(cfg, context)
            improve = learner.improve

            def counted() -> None:
                if trigger.reached("improve"):
                    die()
                trigger.in_improve = True
                try:
                    improve()
                finally:
                    trigger.in_improve = False

            learner.improve = counted
            return learner

        return build

    run_module.learner_class = learner_class
    if trigger.action == "enospc" and trigger.point in ("game", "metrics", "checkpoint"):
        install_full_disk(trigger, results)
    else:
        original_append = results.RunDir._append

        def append(self: Any, path: Any, text: str) -> None:
            if not trigger.reached("metrics" if path == self.metrics_path else "game"):
                original_append(self, path, text)
                if path == self.metrics_path:
                    trigger.dump()
                return
            if trigger.action == "kill":
                original_append(self, path, text)
            else:  # torn: half the text reaches the disk
                with open(path, "a", encoding="utf-8") as handle:
                    handle.write(text[: len(text) // 2])
                    handle.flush()
                    os.fsync(handle.fileno())
            die()

        results.RunDir._append = append
        original_replace = os.replace

        def replace(src: Any, dst: Any, *args: Any, **kwargs: Any) -> None:
            if str(dst).endswith(results.CHECKPOINT) and trigger.reached("checkpoint"):
                die()
            original_replace(src, dst, *args, **kwargs)

        results.os.replace = replace  # bench.results uses the os module: this is the rename of its atomic write


class _FullFile:
    """A file object whose writes stop half way with ENOSPC, like a filesystem that just filled up."""

    def __init__(self, handle: Any) -> None:
        self._handle = handle

    def write(self, data: Any) -> int:
        self._handle.write(data[: len(data) // 2])
        self._handle.flush()
        raise full_disk()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._handle, name)

    def __enter__(self) -> "_FullFile":
        return self

    def __exit__(self, *exc: object) -> None:
        self._handle.close()


def install_full_disk(trigger: Trigger, results: Any) -> None:
    """The disk fills up at the N-th write of the point's file: bench.results' own `open` sees ENOSPC."""
    import builtins

    def full_open(file: Any, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
        handle = builtins.open(file, mode, *args, **kwargs)
        name = os.path.basename(str(file))
        point = {results.METRICS: "metrics", results.GAMES: "game", results.CHECKPOINT + ".tmp": "checkpoint"}.get(name)
        if point is not None and any(c in mode for c in "wa") and trigger.reached(point):
            return _FullFile(handle)
        return handle

    results.open = full_open  # module globals shadow builtins: only bench.results' writes go through this


def main() -> None:
    spec = os.environ.get("BENCH_FAULT")
    if spec:
        action, point, count = parse(spec)
        install(Trigger(action, point, count))
    import bench.__main__ as app
    from bench.cli import guarded

    sys.argv[0] = "bench"
    sys.exit(guarded(app.main, hydra_app=True))


if __name__ == "__main__":
    main()
