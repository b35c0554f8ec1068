"""First reach of an Elo threshold: when a configuration's evaluations show it at or above the threshold.

Definitions (each checkable by hand against metrics.jsonl and the calibration file):
- *threshold*: a calibrated rung's rating (compared with the rung itself, so the ladder error the two share
  cancels: `compare.versus_rung`), or a fixed Elo value on the ladder's scale (`compare.versus_value`).
- *the configuration's curve*: at each evaluation index all its seeds share, the mean of the seeds' ratings
  (`compare.pool`: game variance sum se_i^2 / k^2, ladder term with the mean weights), at the seeds' geometric
  mean x. More seeds narrow it; seed-to-seed variation is shown apart (seed range), not in this interval.
- *first reach* in a field x (samples, FLOPs): `point` is x at the first evaluation whose mean minus the
  threshold is >= 0; `early` at the first whose 95% interval of that difference reaches 0 (it could have
  reached T); `late` at the first whose interval lies wholly at or above 0 (it surely had). Not reached: more
  than the configuration spent.
- *a learner's reach*: its configuration with the least point (the compute frontier at T).
- *ratio* B/A: point = B.point / A.point; interval [B.early / A.late, B.late / A.early]; when B did not reach T
  the point is a lower bound (B's budget / A.point).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from bench.report.compare import pool, versus_rung, versus_value
from bench.report.loading import Run
from bench.report.scales import Rated, Scale, rated_of
from bench.report.series import run_values
from bench.report.tables import fmt_num


@dataclass(frozen=True)
class Threshold:
    """An Elo level on one scale: a calibrated rung's rating, or a fixed value."""

    value: float
    rung: str | None = None

    @property
    def label(self) -> str:
        return f"{self.rung} ({self.value:.0f})" if self.rung else f"{self.value:.0f} (fixed)"


@dataclass(frozen=True)
class RatedPoint:
    """One evaluation (or the seeds' mean at one evaluation index) at x."""

    x: float
    rated: Rated
    eval_index: int = 0


@dataclass(frozen=True)
class Reach:
    """Where a configuration (or learner) first reached a threshold, in one field's units."""

    point: float | None
    early: float | None
    late: float | None
    spent: float
    """The most of the field evaluated (a reach that never happened lies beyond it)."""
    seeds: int = 1
    label: str = ""
    mdd: float | None = None
    """Smallest detectable difference (Elo, 80% power) from the threshold at the evaluation of `point` (the last
    evaluation when never reached)."""


def run_rated_points(run: Run, field: str) -> list[RatedPoint]:
    """The run's evaluations that carry `field` (evaluation 0 at 0: `series.run_values`), rated on the run's
    scale."""
    if run.scale is None:
        return []
    return [RatedPoint(x, rated_of(record, run.scale), int(record["eval_index"]))
            for record, x in run_values(run.records, field)]


def _centre(xs: list[float]) -> float:
    """The seeds' geometric mean x (arithmetic when any is 0); exactly x when they agree."""
    if all(x == xs[0] for x in xs):
        return xs[0]
    return math.exp(sum(math.log(x) for x in xs) / len(xs)) if all(x > 0 for x in xs) else sum(xs) / len(xs)


def config_points(group: list[Run], field: str) -> list[RatedPoint]:
    """The configuration's curve: per evaluation index all seeds share, their pooled rating (module docstring)."""
    scale = group[0].scale
    seeds = [pts for pts in (run_rated_points(run, field) for run in group) if pts]
    if not seeds or scale is None:
        return []
    common = set.intersection(*({p.eval_index for p in pts} for pts in seeds))
    out = []
    for index in sorted(common):
        at = [next(p for p in pts if p.eval_index == index) for pts in seeds]
        out.append(RatedPoint(_centre([p.x for p in at]), pool([p.rated for p in at], scale), index))
    return out


def _versus(rated: Rated, scale: Scale, threshold: Threshold) -> tuple[float, float, float, float]:
    """(diff, low, high, mdd) of rating minus threshold; at an edge, the record's one-sided bounds."""
    if threshold.rung is not None and threshold.rung in scale.ratings:
        d, _ = versus_rung(rated, scale, threshold.rung)
    else:
        d, _ = versus_value(rated, scale, threshold.value)
    if not math.isfinite(d.se):
        return rated.elo - threshold.value, rated.low - threshold.value, rated.high - threshold.value, d.mdd
    return d.diff, d.low, d.high, d.mdd


def first_reach(points: list[RatedPoint], threshold: Threshold, scale: Scale) -> Reach:
    versus = [(p.x, *_versus(p.rated, scale, threshold)) for p in points]

    def first(k: int) -> float | None:
        return next((v[0] for v in versus if v[k] >= 0), None)

    point = first(1)
    at = next((v for v in versus if v[0] == point), versus[-1] if versus else None)
    return Reach(point=point, early=first(3), late=first(2), spent=max((p.x for p in points), default=0.0),
                 mdd=at[4] if at else None)


def best_reach(reaches: list[Reach]) -> Reach | None:
    """The frontier at a threshold: the configuration with the least point (then least late, least early)."""
    if not reaches:
        return None
    inf = math.inf
    return min(reaches, key=lambda r: (r.point is None, r.point if r.point is not None else inf,
                                       r.late if r.late is not None else inf,
                                       r.early if r.early is not None else inf, -r.spent))


@dataclass(frozen=True)
class Ratio:
    """B's cost over A's at one threshold; `low`/`high` None mean unbounded (0 / infinity)."""

    point: float
    low: float | None
    high: float | None
    censored: bool = False
    """B never reached the threshold: `point` and `low` are lower bounds."""

    def text(self) -> str:
        bound = "> " if self.censored else ""
        low = fmt_num(self.low) if self.low is not None else "0"
        high = fmt_num(self.high) if self.high is not None else "∞"
        return f"{bound}{fmt_num(self.point)}× [{low}, {high}]"


def ratio(a: Reach, b: Reach) -> Ratio | None:
    """How many times more B spent than A to first reach the same threshold; None when A never reached it."""
    if a.point is None or a.point <= 0:
        return None
    censored = b.point is None
    b_point = b.spent if censored else b.point
    b_early = b.early if b.early is not None else b.spent
    low = b_early / a.late if a.late else None
    high = b.late / a.early if (b.late is not None and a.early) else None
    return Ratio(point=b_point / a.point, low=low, high=high, censored=censored)


def ratio_verdict(r: Ratio | None, far: float = 1.0) -> str:
    """Does the ratio support "A needed (far) fewer than B"? `far` > 1 asks for at least that factor. An interval
    that spans 1 is "inconclusive": the data cannot tell which needed fewer."""
    if r is None:
        return "no evidence"
    if r.low is not None and far > 1 and r.low >= far:
        return "supported strongly"
    if r.low is not None and r.low > 1.0:
        return "supported"
    if r.high is not None and r.high < 1.0:
        return "contradicted"
    return "inconclusive"


def reach_text(reach: Reach | None) -> str:
    if reach is None:
        return "-"
    if reach.point is None:
        early = f"; upper bound crossed at {fmt_num(reach.early)}" if reach.early is not None else ""
        return f"not reached (> {fmt_num(reach.spent)}){early}"
    late = fmt_num(reach.late) if reach.late is not None else f"> {fmt_num(reach.spent)}"
    return f"{fmt_num(reach.point)} [{fmt_num(reach.early)}, {late}]"


REACH_NOTE = (
    "point: first evaluation where the seeds' mean Elo is at or above the threshold; early: first where the 95% "
    "interval of (mean - threshold) reaches 0; late: first where it lies wholly at or above 0. A rung threshold is "
    "compared with the rung itself (ladder error shared with the rung cancels, Sigma from the calibration), a fixed "
    "one with the absolute interval. The seeds' mean has game variance sum se_i^2 / k^2, so more seeds narrow it; "
    "variation between seeds is not in it (see the seed range in the final table).")

__all__: list[Any] = ["Threshold", "RatedPoint", "Reach", "Ratio", "REACH_NOTE", "best_reach", "config_points",
                      "first_reach", "ratio", "ratio_verdict", "reach_text", "run_rated_points"]
