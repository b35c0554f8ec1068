"""Everything the claims and tables need, computed once from the runs: scales, thresholds, reaches, finals."""

from __future__ import annotations

import math
from dataclasses import dataclass

from bench.report.claims.reach import Reach, RatedPoint, Threshold, best_reach, config_points, first_reach
from bench.report.compare import absolute_se
from bench.report.costs import ReportSettings
from bench.report.loading import Run, configurations
from bench.report.scales import Rated, Scale, rated_of
from bench.report.units import EPISODES, Unit, not_recorded

FLOPS = "learning_flops"


@dataclass
class LearnerReach:
    learner: str
    threshold: Threshold
    episodes: Reach | None
    """In the learner's episode unit (settings.episode_unit)."""
    flops: Reach | None
    unit: str


@dataclass(frozen=True)
class Final:
    """A configuration's last evaluation every seed reached, the seeds pooled (`compare.pool`)."""

    label: str
    learner: str
    rated: Rated
    scale: Scale
    seeds: list[Rated]
    eval_index: int

    def elo_text(self) -> str:
        return elo_text(self.rated, self.scale)


def elo_text(r: Rated, scale: Scale) -> str:
    """An Elo with its absolute 95% interval and the rules that produced it."""
    bound = {"above": "≥ ", "below": "≤ "}.get((r.edge or "").split("_")[0], "")
    se = absolute_se(r, scale)
    if r.edge or not math.isfinite(se):
        low, high = r.low, r.high
    else:
        low, high = r.elo - 1.959963984540054 * se, r.elo + 1.959963984540054 * se
    ends = [f"{v:.0f}" if math.isfinite(v) else ("-∞" if v < 0 else "∞") for v in (low, high)]
    return f"{bound}{r.elo:.0f} [{ends[0]}, {ends[1]}] (rules {scale.rules})"


class Analysis:
    """Runs grouped by scale (rules + calibration) and configuration; reaches and finals per scale."""

    def __init__(self, runs: list[Run], settings: ReportSettings) -> None:
        self.runs = [run for run in runs if run.records and run.scale is not None]
        self.settings = settings
        self.scales: dict[str, Scale] = {}
        for run in self.runs:
            self.scales.setdefault(run.scale.key, run.scale)  # type: ignore[union-attr]
        # Seeds of one configuration rated on different scales (a recalibration between them) stay apart.
        self.configs: dict[str, list[Run]] = {}
        for key, group in configurations(self.runs).items():
            for run in group:
                self.configs.setdefault(f"{run.scale.key}#{key}", []).append(run)  # type: ignore[union-attr]
        self.learners = sorted({run.learner for run in self.runs})
        self._reaches: dict[tuple[tuple[int, ...], str, float, str | None], Reach | None] = {}

    # ------------------------------------------------------------------------------------------- scales
    def runs_on(self, scale: Scale, learner: str | None = None) -> list[Run]:
        return [r for r in self.runs if r.scale.key == scale.key and (learner is None or r.learner == learner)]

    def scales_of(self, *learners: str) -> list[Scale]:
        """Scales on which every one of `learners` has runs, the most-used first."""
        keys = [k for k in self.scales if all(self.runs_on(self.scales[k], l) for l in learners)]
        return sorted((self.scales[k] for k in keys), key=lambda s: -len(self.runs_on(s)))

    # ------------------------------------------------------------------------------------------- thresholds
    def thresholds(self, scale: Scale) -> list[Threshold]:
        """The configured fixed Elo values, else the calibrated rungs above the ladder's bottom one, up to the best
        Elo a learning run on this scale reached."""
        best = max((float(r["elo"]) for run in self.runs_on(scale) if run.learner != "random" for r in run.records),
                   default=-math.inf)
        if self.settings.thresholds:
            out = [Threshold(float(v)) for v in sorted(self.settings.thresholds)]
        else:
            rungs = sorted(scale.ratings.items(), key=lambda kv: kv[1])[1:]
            out = [Threshold(value, name) for name, value in rungs]
        return [t for t in out if t.value <= best][: self.settings.max_thresholds]

    # --------------------------------------------------------------------------------------- configurations
    def learner_configs(self, learner: str, scale: Scale) -> list[list[Run]]:
        return [g for g in self.configs.values() if g[0].learner == learner and g[0].scale.key == scale.key]

    def unit(self, learner: str) -> str:
        return self.settings.episode_unit.get(learner, "samples.games")

    def config_reach(self, group: list[Run], field: str, threshold: Threshold) -> Reach | None:
        key = (tuple(id(run) for run in group), field, threshold.value, threshold.rung)
        if key not in self._reaches:
            points = config_points(group, field)
            reach = first_reach(points, threshold, group[0].scale) if points else None  # type: ignore[arg-type]
            self._reaches[key] = None if reach is None else Reach(
                reach.point, reach.early, reach.late, reach.spent, len(group), group[0].label, reach.mdd)
        return self._reaches[key]

    def unit_for(self, learner: str, unit: Unit) -> Unit:
        """`unit` as `learner` records it: EPISODES becomes the learner's own episode field."""
        return unit.of(self.unit(learner)) if unit.field == EPISODES.field else unit

    def recording(self, learner: str, scale: Scale, unit: Unit) -> tuple[list[list[Run]], dict[str, str]]:
        """The learner's configurations on `scale` whose every run records `unit` (`units.not_recorded`), and for
        each configuration left out, why (label -> reason)."""
        unit = self.unit_for(learner, unit)
        kept, missing = [], {}
        for group in self.learner_configs(learner, scale):
            reasons = [why for run in group if (why := not_recorded(run, unit))]
            if reasons:
                missing[group[0].label] = reasons[0]
            else:
                kept.append(group)
        return kept, missing

    def unit_reach(self, learner: str, unit: Unit, threshold: Threshold, scale: Scale) -> tuple[Reach | None, str]:
        """The learner's first reach of `threshold` in `unit` over the configurations that record it (the frontier),
        or None and why it is not recorded ("mcts: samples.forward_passes absent from its records")."""
        groups, missing = self.recording(learner, scale, unit)
        field = self.unit_for(learner, unit).field
        reach = best_reach([r for g in groups if (r := self.config_reach(g, field, threshold))])
        if reach is None:
            if len(set(missing.values())) == 1:
                return None, f"{learner}: {next(iter(missing.values()))}"
            return None, "; ".join(f"{k}: {v}" for k, v in missing.items()) or f"{learner}: no runs"
        return reach, ""

    def reach_in(self, learner: str, field: str, threshold: Threshold, scale: Scale) -> Reach | None:
        """The learner's first reach of `threshold` in `field` on `scale`: its frontier configuration."""
        return best_reach([r for g in self.learner_configs(learner, scale)
                           if (r := self.config_reach(g, field, threshold))])

    def learner_reach(self, learner: str, threshold: Threshold, scale: Scale) -> LearnerReach:
        unit = self.unit(learner)
        return LearnerReach(learner, threshold, self.reach_in(learner, unit, threshold, scale),
                            self.reach_in(learner, FLOPS, threshold, scale), unit)

    def curve(self, group: list[Run]) -> list[RatedPoint]:
        return config_points(group, "eval_index")

    def final(self, group: list[Run]) -> Final | None:
        points = self.curve(group)
        if not points:
            return None
        last = points[-1]
        seeds = [rated_of(next(r for r in run.records if r["eval_index"] == last.eval_index), run.scale)
                 for run in group]  # type: ignore[arg-type]
        return Final(group[0].label, group[0].learner, last.rated, group[0].scale, seeds,  # type: ignore[arg-type]
                     last.eval_index)

    def best_final(self, learner: str, scale: Scale, runs: list[Run] | None = None) -> Final | None:
        """The configuration (on `scale`) whose last evaluation has the highest mean Elo."""
        if runs is None:
            groups = self.learner_configs(learner, scale)
        else:
            groups = [g for g in configurations([r for r in runs if r.scale.key == scale.key]).values()]
        finals = [f for g in groups if (f := self.final(g)) is not None]
        return max(finals, key=lambda f: f.rated.elo) if finals else None
