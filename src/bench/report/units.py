"""The units learning is counted in, whether a run recorded each, and the outside knowledge a run used.

A *unit* is a record field (or a derived one, `series.DERIVED`) that grows while a learner learns: positions,
network forward passes, training FLOPs, total FLOPs with the engine's work. Issue 14 put one set of counters in
every learner's records from evaluation 0 on; older records, and learners that do not count a unit yet, lack some.
A run *records* a unit when its last evaluation after learning carries every field the unit is made of and, for the
units every learning learner spends (positions, forward passes, FLOPs while learning), is above 0 there (a learner
that learned chose moves and evaluated its model: a 0 means the counter is not kept, not that nothing was spent);
training FLOPs may be 0 (in-context learning trains nothing). Total FLOPs also need the engine's work: a run whose
learning used Stockfish (verifier calls, or engine knowledge named in `learner_info.outside_knowledge`) but records
`compute.engine_flops` 0 has not counted it. The report prints "not recorded" with the reason, never a silent gap.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bench.compute import OUTSIDE_KNOWLEDGE
from bench.report.loading import Run, get
from bench.report.series import FIELD_LABELS, field_value

ENGINE_KNOWLEDGE = tuple(k for k in OUTSIDE_KNOWLEDGE if k.startswith("engine"))
"""Outside knowledge that comes from running Stockfish while learning (its work belongs in `engine_flops`)."""

NOT_RECORDED = "not recorded"


@dataclass(frozen=True)
class Unit:
    """What a learner spent, measured one way."""

    field: str
    """The record field (dotted) or derived field (`series.DERIVED`) holding it; `episodes` stands for each
    learner's own episode field (`ReportSettings.episode_unit`: mcts games, rlvr rollouts)."""
    name: str
    """How tables name it."""
    parts: tuple[str, ...]
    """Record fields that must be present for it to be known."""
    decides: bool = True
    """Whether a claim judged in every unit takes this one's verdict (episodes of different kinds do not)."""
    engine: bool = False
    """Includes the engine's work: unknown when engine use is recorded but engine FLOPs are 0."""
    counted_when_learning: bool = True
    """Every learner that learned spent some of it (it chose moves, it evaluated its model), so 0 after learning
    means the counter is not kept. False where 0 can be true (training FLOPs of in-context learning)."""

    def of(self, field: str) -> Unit:
        """This unit read from another field (a learner's own episode field)."""
        return Unit(field, self.name, (field,), self.decides, self.engine, self.counted_when_learning)


POSITIONS = Unit("samples.positions", "positions", ("samples.positions",))
FORWARD_PASSES = Unit("samples.forward_passes", "forward passes", ("samples.forward_passes",))
TRAIN_FLOPS = Unit("compute.train_flops", "training FLOPs", ("compute.train_flops",), counted_when_learning=False)
LEARNING_FLOPS = Unit("learning_flops", "FLOPs while learning (train + inference)",
                      ("compute.train_flops", "compute.infer_flops"))
TOTAL_FLOPS = Unit("flops_with_engine", "total FLOPs (train + inference + engine)",
                   ("compute.train_flops", "compute.infer_flops", "compute.engine_flops"), engine=True)
EPISODES = Unit("episodes", "episodes (games vs rollouts)", (), decides=False)

CLAIM3_UNITS = (POSITIONS, FORWARD_PASSES, TRAIN_FLOPS, TOTAL_FLOPS)
"""Seed claim 3 is judged in each of these; the weakest verdict is the claim's."""
RATIO_UNITS = (EPISODES, POSITIONS, FORWARD_PASSES, TRAIN_FLOPS, LEARNING_FLOPS, TOTAL_FLOPS)
"""The units of the ratio table between learners."""


def unit_label(unit: Unit) -> str:
    return FIELD_LABELS.get(unit.field, unit.name)


def outside_knowledge(run: Run) -> list[str] | None:
    """The knowledge beyond the rules of chess the run's learning used, or None when its records do not say
    (records older than `learner_info.outside_knowledge`)."""
    for record in reversed(run.records):
        value = get(record, "learner_info.outside_knowledge")
        if isinstance(value, list):
            return [str(v) for v in value]
    return None


def engine_work_uncounted(record: dict[str, Any], knowledge: list[str] | None) -> str | None:
    """Why the record's engine FLOPs cannot be the engine work its learning did, or None."""
    engine = field_value(record, "compute.engine_flops")
    if engine is None or engine > 0:
        return None
    calls = field_value(record, "compute.verifier_calls") or 0.0
    used = [k for k in knowledge or [] if k in ENGINE_KNOWLEDGE]
    if calls > 0:
        return f"{calls:.0f} engine verifier calls but compute.engine_flops is 0: engine work not counted"
    if used:
        return f"learning used {', '.join(used)} but compute.engine_flops is 0: engine work not counted"
    return None


def not_recorded(run: Run, unit: Unit) -> str | None:
    """Why `run` does not record `unit` (module docstring), or None when it does."""
    learned = [r for r in run.records if r.get("eval_index", 0) > 0]
    if not learned:
        return "no evaluation after learning"
    last = learned[-1]
    absent = [part for part in unit.parts if get(last, part) is None]
    if absent:
        return f"{', '.join(absent)} absent from its records"
    value = field_value(last, unit.field)
    if value is None:
        return f"{unit.field} absent from its records"
    if value <= 0 and unit.counted_when_learning:
        return f"{unit.field} is 0 after learning: the learner does not count it"
    if unit.engine:
        return engine_work_uncounted(last, outside_knowledge(run))
    return None


def knowledge_text(runs: list[Run]) -> str:
    """The outside knowledge of a configuration's runs: the names, "none beyond the rules" for [], "not recorded"
    for runs whose records do not say (with how many of the runs, when only some)."""
    known = [k for k in (outside_knowledge(run) for run in runs) if k is not None]
    missing = len(runs) - len(known)
    if not known:
        return NOT_RECORDED
    names = sorted({name for k in known for name in k})
    text = ", ".join(names) if names else "none beyond the rules of chess"
    return text + (f" ({NOT_RECORDED} in {missing} of {len(runs)} runs)" if missing else "")


__all__ = ["CLAIM3_UNITS", "ENGINE_KNOWLEDGE", "EPISODES", "FORWARD_PASSES", "LEARNING_FLOPS", "NOT_RECORDED",
           "POSITIONS", "RATIO_UNITS", "TOTAL_FLOPS", "TRAIN_FLOPS", "Unit", "engine_work_uncounted",
           "knowledge_text", "not_recorded", "outside_knowledge", "unit_label"]
