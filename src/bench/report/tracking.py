"""Optional experiment loggers (TensorBoard, or Weights & Biases in offline mode), off by default.

The run loop hands each metrics record to `Tracker.log` right after writing it to metrics.jsonl, so the files
stay the record and a tracker only mirrors them. Scalars are namespaced as cleanrl does: `eval/elo`,
`eval/elo_low`, `compute/train_flops`, `samples/games`, `learner/<learner_info path>`; the step is
`eval_index`.

    tracker = open_tracker(cfg.tracker, run_dir, config_dict)   # None when cfg.tracker.kind is "none"
    tracker.log(record); tracker.close()
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from bench.config import TrackerConfig
from bench.errors import BenchError

__all__ = ["TrackerConfig", "open_tracker", "scalars"]


def scalars(record: dict[str, Any]) -> dict[str, float]:
    """The record's numeric fields as namespaced scalars (non-finite values and booleans left out)."""
    out: dict[str, float] = {}

    def put(name: str, value: Any) -> None:
        if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
            out[name] = float(value)

    def walk(prefix: str, node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                walk(f"{prefix}/{key}", value)
        else:
            put(prefix, node)

    put("eval/elo", record.get("elo"))
    ci = record.get("elo_ci") or []
    if len(ci) == 2:
        put("eval/elo_low", ci[0])
        put("eval/elo_high", ci[1])
    put("eval/elo_se", record.get("elo_se"))
    put("eval/games", record.get("games"))
    put("eval/seconds", record.get("eval_seconds"))
    put("eval/engine_restarts", record.get("engine_restarts"))
    walk("compute", record.get("compute") or {})
    walk("samples", record.get("samples") or {})
    put("budget/spent", (record.get("budget") or {}).get("spent"))
    walk("learner", record.get("learner_info") or {})
    return out


class Tracker(Protocol):
    def log(self, record: dict[str, Any]) -> None: ...

    def close(self) -> None: ...


class TensorBoardTracker:
    def __init__(self, run_dir: Path, config: dict[str, Any]) -> None:
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError as exc:
            raise BenchError("tracker.kind=tensorboard needs the tensorboard package: pip install '.[tracking]'") from exc
        self.writer = SummaryWriter(log_dir=str(run_dir / "tensorboard"))
        self.writer.add_text("config", "```\n" + _yaml(config) + "\n```", 0)

    def log(self, record: dict[str, Any]) -> None:
        step = int(record.get("eval_index", 0))
        for name, value in scalars(record).items():
            self.writer.add_scalar(name, value, step)
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()


class WandbTracker:
    def __init__(self, run_dir: Path, config: dict[str, Any], project: str) -> None:
        try:
            import wandb
        except ImportError as exc:
            raise BenchError("tracker.kind=wandb needs the wandb package: pip install wandb") from exc
        os.environ.setdefault("WANDB_MODE", "offline")
        self.wandb = wandb
        self.run = wandb.init(project=project, dir=str(run_dir), config=config, mode=os.environ["WANDB_MODE"],
                              name=run_dir.name, reinit=True)

    def log(self, record: dict[str, Any]) -> None:
        self.run.log(scalars(record), step=int(record.get("eval_index", 0)))

    def close(self) -> None:
        self.run.finish()


def open_tracker(cfg: Any, run_dir: str | Path, config: dict[str, Any]) -> Tracker | None:
    """The tracker `cfg` (a TrackerConfig or DictConfig; None means off) asks for, writing under `run_dir`."""
    kind = str(getattr(cfg, "kind", "none") or "none") if cfg is not None else "none"
    if kind == "none":
        return None
    if kind == "tensorboard":
        return TensorBoardTracker(Path(run_dir), config)
    if kind == "wandb":
        return WandbTracker(Path(run_dir), config, str(getattr(cfg, "project", "bench")))
    raise BenchError(f"tracker.kind={kind!r}; choose none, tensorboard or wandb")


def _yaml(config: dict[str, Any]) -> str:
    import yaml

    return yaml.safe_dump(config, sort_keys=False)
