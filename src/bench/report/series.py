"""Curves: Elo against one field of the records, per run and per configuration (seeds aggregated).

A *field* is a dotted path into a metrics record (`samples.games`, `compute.wall_s`,
`learner_info.history_tokens`) or one of the derived fields in `DERIVED`. Records without the field are
skipped, so one plot can mix learners that count different samples.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import mean
from typing import Any, Callable

from bench.report.loading import Run, get


def learning_flops(record: dict[str, Any]) -> float | None:
    """FLOPs spent while learning: training plus the learner's own inference (self-play search, rollouts, LM
    tokens). Jones ("Scaling Scaling Laws with Board Games", 2021) counts self-play inference as train-time
    compute the same way."""
    compute = record.get("compute")
    if not isinstance(compute, dict):
        return None
    return float(compute.get("train_flops", 0.0) or 0.0) + float(compute.get("infer_flops", 0.0) or 0.0)


def flops_with_engine(record: dict[str, Any]) -> float | None:
    """`learning_flops` plus the Stockfish work done for the learner while it learned (`compute.engine_flops`:
    engine nodes x the measured operations per node, bench.compute.ENGINE_FLOPS_PER_NODE); None when the record
    does not carry `compute.engine_flops` (records older than issue 14), never a silent 0."""
    flops = learning_flops(record)
    engine = get(record, "compute.engine_flops")
    if flops is None or isinstance(engine, bool) or not isinstance(engine, (int, float)):
        return None
    return flops + float(engine)


DERIVED: dict[str, Callable[[dict[str, Any]], float | None]] = {"learning_flops": learning_flops,
                                                                  "flops_with_engine": flops_with_engine}

FIELD_LABELS: dict[str, str] = {
    "learning_flops": "FLOPs while learning (train + inference)",
    "flops_with_engine": "total FLOPs (train + inference + engine)",
    "compute.train_flops": "training FLOPs (forward + backward of updates)",
    "compute.engine_flops": "engine FLOPs (Stockfish work for the learner)",
    "compute.wall_s": "learner wall-clock seconds",
    "samples.games": "games",
    "samples.positions": "positions (moves chosen while learning)",
    "samples.forward_passes": "network forward passes",
    "samples.episodes": "episodes",
    "samples.rollouts": "rollouts",
    "samples.tasks": "tasks",
    "samples.tokens": "tokens",
    "samples.simulations": "search simulations",
    "learner_info.eval_simulations": "search simulations per move at evaluation",
    "learner_info.history_tokens": "tokens of past games in context",
}


def field_value(record: dict[str, Any], field: str) -> float | None:
    """The record's value of `field` as a finite float, or None."""
    value = DERIVED[field](record) if field in DERIVED else get(record, field)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def before_learning(record: dict[str, Any]) -> bool:
    """Evaluation 0 of a run that evaluates before learning: nothing has been spent yet (`budget.spent` 0 or not
    recorded)."""
    spent = get(record, "budget.spent", 0)
    return record.get("eval_index") == 0 and (not isinstance(spent, (int, float)) or spent == 0)


def run_values(records: list[dict[str, Any]], field: str) -> list[tuple[dict[str, Any], float]]:
    """(record, x) for the records that carry `field`, in order. Evaluation 0, before learning, is at x = 0 when it
    lacks the field but later evaluations carry it: records written before issue 14 had `samples: {}` there, and
    dropping them lost the untrained player from every sample axis (and the first threshold's early bound)."""
    later = any(field_value(r, field) is not None for r in records if r.get("eval_index") != 0)
    out = []
    for record in records:
        x = field_value(record, field)
        if x is None and later and before_learning(record):
            x = 0.0
        if x is not None:
            out.append((record, x))
    return out


@dataclass(frozen=True)
class Point:
    """One evaluation on a curve."""

    x: float
    elo: float
    low: float
    high: float
    edge: str | None = None
    """`above_top` / `above_bracket` (elo is a lower bound) or `below_floor` / `below_bracket` (an upper bound)."""
    eval_index: int = 0


def record_point(record: dict[str, Any], x: float) -> Point | None:
    elo = record.get("elo")
    ci = record.get("elo_ci") or [elo, elo]
    try:
        elo, low, high = float(elo), float(ci[0]), float(ci[1])
    except (TypeError, ValueError, IndexError):
        return None
    if not math.isfinite(elo):
        return None
    low = low if math.isfinite(low) else -math.inf
    high = high if math.isfinite(high) else math.inf
    return Point(x=x, elo=elo, low=low, high=high, edge=record.get("edge"), eval_index=int(record.get("eval_index", 0)))


def run_points(run: Run, field: str) -> list[Point]:
    """The run's evaluations that carry `field`, in evaluation order."""
    points = []
    for record, x in run_values(run.records, field):
        point = record_point(record, x)
        if point is not None:
            points.append(point)
    return points


@dataclass
class Curve:
    """One configuration's curve: the seeds' mean, with the seeds kept for spread and bands."""

    label: str
    learner: str
    points: list[Point]
    """Per evaluation index present in every seed: x is the seeds' geometric mean (arithmetic when any x is 0),
    elo their mean, [low, high] the envelope of their 95% intervals (never narrower than any one seed's)."""
    seeds: list[list[Point]]
    seed_ids: list[int]
    rules: str = ""
    """The rules the games were played under (every Elo says which rules produced it)."""

    @property
    def spread(self) -> list[tuple[float, float]]:
        """Per point, the lowest and highest seed Elo (equal for one seed)."""
        out = []
        for point in self.points:
            elos = [p.elo for seed in self.seeds for p in seed if p.eval_index == point.eval_index]
            out.append((min(elos), max(elos)))
        return out


def _centre(xs: list[float]) -> float:
    if all(x > 0 for x in xs):
        return math.exp(mean(math.log(x) for x in xs))
    return mean(xs)


def configuration_curve(runs: list[Run], field: str) -> Curve | None:
    """Aggregate the seeds of one configuration; None when no run carries `field`."""
    seeds = [run_points(run, field) for run in runs]
    kept = [(run, pts) for run, pts in zip(runs, seeds) if pts]
    if not kept:
        return None
    common = set.intersection(*({p.eval_index for p in pts} for _, pts in kept))
    points = []
    for index in sorted(common):
        at = [next(p for p in pts if p.eval_index == index) for _, pts in kept]
        edges = {p.edge for p in at if p.edge}
        points.append(Point(x=_centre([p.x for p in at]), elo=mean(p.elo for p in at), low=min(p.low for p in at),
                            high=max(p.high for p in at), edge=edges.pop() if len(edges) == 1 else None,
                            eval_index=index))
    return Curve(label=kept[0][0].label, learner=kept[0][0].learner, points=points,
                 seeds=[pts for _, pts in kept], seed_ids=[run.seed for run, _ in kept],
                 rules=kept[0][0].scale.rules if kept[0][0].scale is not None else "")


def frontier(curves: list[Curve], positive_only: bool = True) -> list[tuple[float, float]]:
    """Upper envelope of curves (Jones 2021's compute frontier): the best mean Elo reached at or below each x."""
    points = sorted((p.x, p.elo) for curve in curves for p in curve.points if p.x > 0 or not positive_only)
    envelope: list[tuple[float, float]] = []
    best = -math.inf
    for x, elo in points:
        if elo > best:
            best = elo
            envelope.append((x, elo))
    if envelope and points[-1][0] > envelope[-1][0]:
        envelope.append((points[-1][0], best))  # the frontier holds its level to the most compute spent
    return envelope
