"""Seed claim 2 measured (issue 19): chess against other verifiable task families, same learner, same counters.

Runs of learner=rlvr_llm record their held-out success at every evaluation (`learner_info.heldout.solve_rate`,
greedy, on problems never trained on) beside the common counters. A run's *family* is `learner.family.name`; chess
runs are named by their held-out file (`chess/conversion_m2`), since the chess families differ by their tasks.
For every family, `learned.py` turns each seed's curve into the compute to close 50% and 90% of the gap between the
untrained success and the ceiling (1.0), in three units: rollouts (samples.rollouts), tokens (samples.tokens) and
FLOPs (compute.train_flops + compute.infer_flops, the model's own work while learning; none of these families
calls an engine except chess tasks with an engine opponent, whose engine work is left out here as for the rest).

The claim's verdict compares every chess family with every other family on FLOPs to close 50% of the gap: the
ratio chess / other with Welch's interval over seeds (or the bound censoring allows); "supported" when chess
surely needs more, "contradicted" when surely less, "inconclusive" otherwise; the claim takes the weakest pair.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from bench.report.claims.analysis import Analysis
from bench.report.claims.learned import FRACTIONS, Crossing, crossing, ratio, summarise, verdict
from bench.report.compare import weakest
from bench.report.loading import Run, get
from bench.report.tables import Table, fmt_num

LEARNER = "rlvr_llm"


def _flops(record: dict[str, Any]) -> float:
    return float(get(record, "compute.train_flops", 0) or 0) + float(get(record, "compute.infer_flops", 0) or 0)


UNITS: dict[str, Callable[[dict[str, Any]], float]] = {
    "rollouts": lambda r: float(get(r, "samples.rollouts", 0) or 0),
    "tokens": lambda r: float(get(r, "samples.tokens", 0) or 0),
    "FLOPs": _flops,
}
"""Compute units, each read from a metrics record."""
DECIDING = "FLOPs"
"""The unit the verdict is taken in (the others are shown)."""


def family_of(run: Run) -> str | None:
    """The run's task family label, or None for runs that are not rlvr_llm runs with a held-out set."""
    if run.learner != LEARNER:
        return None
    name = str(get(run.config, "learner.family.name", "chess") or "chess")
    if name == "chess":
        path = get(run.config, "learner.heldout.path")
        return f"chess/{Path(str(path)).stem}" if path else None
    levels = get(run.config, "learner.family.difficulty", []) or []
    return f"{name} d{'/'.join(str(d) for d in levels)}" if levels else name


def curve(run: Run, unit: str) -> list[tuple[float, float]]:
    """(compute in `unit`, held-out greedy success) at each of the run's evaluations that scored the held-out set."""
    return [(UNITS[unit](r), float(get(r, "learner_info.heldout.solve_rate")))
            for r in run.records if get(r, "learner_info.heldout.solve_rate") is not None]


@dataclass(frozen=True)
class FamilyResult:
    name: str
    runs: list[Run]
    crossings: dict[tuple[str, float], list[Crossing]]
    """(unit, fraction) -> one crossing per seed."""
    start: float
    """Mean untrained held-out success over seeds."""
    final: float
    """Mean held-out success at the last evaluation."""

    @property
    def chess(self) -> bool:
        return self.name.startswith("chess/")


def families(analysis: Analysis) -> list[FamilyResult]:
    """Every family with rlvr_llm runs whose held-out curve has the point before learning and one after."""
    grouped: dict[str, list[Run]] = {}
    for run in analysis.runs:
        name = family_of(run)
        points = curve(run, DECIDING) if name is not None else []
        if len(points) >= 2 and points[-1][0] > points[0][0]:
            grouped.setdefault(name, []).append(run)
    out = []
    for name, runs in sorted(grouped.items()):
        crossings = {(unit, f): [crossing(curve(run, unit), f) for run in runs] for unit in UNITS for f in FRACTIONS}
        starts = [curve(run, DECIDING)[0][1] for run in runs]
        finals = [max(curve(run, DECIDING))[1] for run in runs]
        out.append(FamilyResult(name, runs, crossings, sum(starts) / len(starts), sum(finals) / len(finals)))
    return out


def _cell(values: list[Crossing]) -> str:
    s = summarise(values)
    interval = f" [{fmt_num(s.low)}, {fmt_num(s.high)}]" if s.low is not None else ""
    return f"{s.bound}{fmt_num(s.geomean)}{interval}"


def claim2_table(analysis: Analysis) -> Table:
    """Compute to close 50% / 90% of the held-out gap, per family, in every unit."""
    found = families(analysis)
    headers = ["family", "seeds", "held-out success: untrained / last"] + \
        [f"{unit} to {int(f * 100)}%" for unit in UNITS for f in FRACTIONS]
    rows = [[r.name, str(len(r.runs)), f"{r.start:.2f} / {r.final:.2f}"] +
            [_cell(r.crossings[(unit, f)]) for unit in UNITS for f in FRACTIONS] for r in found]
    notes = ["Seed claim 2's yardstick (issue 19): learner rlvr_llm on chess and on other verifiable task families, "
             "with the same GRPO step and counters. Compute to close f of the gap between the untrained held-out "
             "success and 1.0, interpolated between evaluations; geometric mean over seeds with a 95% t interval on "
             "log compute (2+ seeds, none censored); '>=' marks a lower bound (a seed never reached the target: its "
             "whole spend stands in)."]
    if not found:
        notes.append("No rlvr_llm runs with a held-out set were given (conf/experiment/claim2.yaml runs them).")
    return Table("Seed claim 2 measured: compute to learn each task family", headers, rows, notes=notes)


def measured_claim(analysis: Analysis) -> tuple[str, str] | None:
    """(verdict, evidence) from the family runs, or None when there are no chess and other families to compare."""
    found = families(analysis)
    chess = [r for r in found if r.chess]
    others = [r for r in found if not r.chess]
    if not chess or not others:
        return None
    f = FRACTIONS[0]
    parts, verdicts = [], []
    for c in chess:
        for o in others:
            r = ratio(c.crossings[(DECIDING, f)], o.crossings[(DECIDING, f)])
            rollouts = ratio(c.crossings[("rollouts", f)], o.crossings[("rollouts", f)])
            v = verdict(r)
            verdicts.append(v)
            parts.append(f"{c.name} / {o.name}: {r.text()} in FLOPs ({rollouts.text()} in rollouts) -> {v}")
    seeds = sorted({len(r.runs) for r in found})
    evidence = (f"Measured here (learner {LEARNER}, held-out success, compute to close {int(f * 100)}% of the gap to "
                f"1.0; seeds per family: {'/'.join(map(str, seeds))}; table 'Seed claim 2 measured'): "
                + "; ".join(parts))
    return weakest(verdicts), evidence


__all__ = ["DECIDING", "FamilyResult", "UNITS", "claim2_table", "curve", "families", "family_of", "measured_claim"]
