"""Seed claim 3: MCTS self-play is far more sample-efficient than RLVR, judged in every unit (issue 14).

"Sample" means different things to the two learners (an mcts game is ~40 of its positions searched with 16
simulations each; an rlvr rollout a few moves with one forward each), and the verdict flips with the unit. So the
claim is judged in each of `units.CLAIM3_UNITS`: positions, network forward passes, training FLOPs and total FLOPs
(train + inference + engine). In each, on a scale mcts and rlvr share, at one threshold (the highest both reached,
else the highest mcts reached with rlvr censored), the ratio of what rlvr spent to first reach it over what mcts
spent (`reach.ratio`, with its interval), and a verdict (`reach.ratio_verdict`: "supported strongly" when the
interval's lower end is at least `far_factor`, "supported" above 1, "contradicted" below 1, else "inconclusive").
A unit either learner does not record is "no evidence" ("not recorded", with the reason). The claim's verdict is
the weakest unit's. Episodes (mcts games vs rlvr rollouts) are shown on a labelled row and never decide.
"""

from __future__ import annotations

from dataclasses import dataclass

from bench.report.claims.analysis import Analysis
from bench.report.claims.base import ClaimLine
from bench.report.claims.reach import Ratio, Reach, Threshold, ratio, ratio_verdict, reach_text
from bench.report.compare import weakest
from bench.report.scales import Scale
from bench.report.tables import Table
from bench.report.units import CLAIM3_UNITS, EPISODES, NOT_RECORDED, Unit, knowledge_text

CLAIM = "MCTS self-play is far more sample-efficient than RLVR."
A, B = "mcts", "rlvr"


@dataclass(frozen=True)
class UnitVerdict:
    """The claim in one unit: each learner's first reach, rlvr / mcts, and the verdict."""

    unit: Unit
    verdict: str
    ratio: Ratio | None = None
    mcts: Reach | None = None
    rlvr: Reach | None = None
    why: str = ""
    """Why there is no ratio ("not recorded (...)"), else empty."""

    def text(self) -> str:
        label = self.unit.name + ("" if self.unit.decides else ", shown, never decides")
        if self.ratio is None:
            return f"{label}: {self.why} -> {self.verdict}"
        return f"{label}: {self.ratio.text()} -> {self.verdict}"


@dataclass(frozen=True)
class Judgement:
    scale: Scale
    threshold: Threshold
    units: list[UnitVerdict]
    reaches: dict[str, Reach | None]
    """Each learner's reach in evaluations (`eval_index`): seeds and the smallest detectable difference."""

    @property
    def verdict(self) -> str:
        return weakest([u.verdict for u in self.units if u.unit.decides])


def judge_unit(analysis: Analysis, unit: Unit, threshold: Threshold, scale: Scale) -> UnitVerdict:
    a, why_a = analysis.unit_reach(A, unit, threshold, scale)
    b, why_b = analysis.unit_reach(B, unit, threshold, scale)
    if a is None or b is None:
        return UnitVerdict(unit, "no evidence", None, a, b,
                           f"{NOT_RECORDED} ({'; '.join(w for w in (why_a, why_b) if w)})")
    r = ratio(a, b)
    if r is None:
        why = (f"mcts did not reach it in the configurations that record {unit.name}" if a.point is None else
               f"mcts reached it having spent 0 {unit.name}: no ratio")
        return UnitVerdict(unit, "no evidence", None, a, b, why)
    return UnitVerdict(unit, ratio_verdict(r, analysis.settings.far_factor), r, a, b)


def choose_threshold(analysis: Analysis, scale: Scale) -> Threshold | None:
    """The highest threshold both learners reached, else the highest mcts reached (rlvr censored), in evaluations:
    whether a curve reached a threshold does not depend on the unit it is drawn against."""
    both = censored = None
    for threshold in analysis.thresholds(scale):
        a = analysis.reach_in(A, "eval_index", threshold, scale)
        b = analysis.reach_in(B, "eval_index", threshold, scale)
        if a is None or b is None or a.point is None or a.point <= 0:
            continue
        if b.point is None:
            censored = threshold
        else:
            both = threshold
    return both or censored


def judge(analysis: Analysis) -> Judgement | ClaimLine:
    """The claim in every unit, or the ClaimLine saying why it cannot be judged."""
    missing = [l for l in (A, B) if l not in analysis.learners]
    if missing:
        return ClaimLine(3, CLAIM, "no evidence", f"no {' or '.join(missing)} runs were given.")
    shared = analysis.scales_of(A, B)
    if not shared:
        return ClaimLine(3, CLAIM, "different scales", "mcts and rlvr were evaluated on different scales (rules or "
                         "ladder calibration differ): no verdict between them.")
    scale = shared[0]
    threshold = choose_threshold(analysis, scale)
    if threshold is None:
        return ClaimLine(3, CLAIM, "no evidence", f"mcts did not reach any threshold after learning on {scale.label},"
                         " so no first-reach ratio exists.")
    units = [judge_unit(analysis, unit, threshold, scale) for unit in (*CLAIM3_UNITS, EPISODES)]
    reaches = {l: analysis.reach_in(l, "eval_index", threshold, scale) for l in (A, B)}
    return Judgement(scale, threshold, units, reaches)


def claim_sample_efficiency(analysis: Analysis) -> ClaimLine:
    j = judge(analysis)
    if isinstance(j, ClaimLine):
        return j
    far = analysis.settings.far_factor
    text = (f"at {j.threshold.label}, rules {j.scale.rules}, rlvr / mcts to first reach it, unit by unit: "
            + "; ".join(u.text() for u in j.units)
            + f". The claim takes the weakest deciding unit's verdict; 'far' means ≥ {far:g}× ('supported' alone: "
              "more, not far more)")
    if any(u.ratio is not None and u.ratio.censored for u in j.units):
        text += "; rlvr never reached it, so its ratios are lower bounds"
    mdds = [f"{l} {r.mdd:.0f} Elo" for l, r in j.reaches.items() if r is not None and r.mdd is not None]
    if mdds:
        text += "; smallest detectable difference from the threshold at each reach: " + ", ".join(mdds)
    if min(r.seeds if r else 0 for r in j.reaches.values()) < 2:
        text += "; one seed only: variation between seeds is not measured"
    knowledge = [f"{l}: {knowledge_text(analysis.runs_on(j.scale, l))}" for l in (A, B)]
    text += "; outside knowledge used while learning: " + "; ".join(knowledge)
    return ClaimLine(3, CLAIM, j.verdict, text + ".")


def claim3_table(analysis: Analysis) -> Table:
    """Claim 3 unit by unit at its threshold: each learner's first reach, the ratio and the verdict."""
    j = judge(analysis)
    title = "Seed claim 3 unit by unit: rlvr / mcts to first reach the same threshold"
    headers = ["unit", "decides", "mcts: point [early, late]", "rlvr: point [early, late]", "rlvr / mcts [95%]",
               "verdict"]
    if isinstance(j, ClaimLine):
        return Table(title, headers, [], notes=[j.evidence])
    rows = [[u.unit.name, "yes" if u.unit.decides else "no (labelled only)", reach_text(u.mcts), reach_text(u.rlvr),
             u.ratio.text() if u.ratio is not None else u.why, u.verdict] for u in j.units]
    rows.append(["claim 3", "", "", "", "", f"{j.verdict} (the weakest deciding unit)"])
    return Table(title, headers, rows, notes=[
        f"Threshold {j.threshold.label} on {j.scale.label} (rules {j.scale.rules}): the highest both learners "
        "reached, else the highest mcts reached (rlvr censored: '>' marks lower bounds).",
        "Units: positions = moves the learner chose while learning (samples.positions); forward passes = positions "
        "or sequences its network evaluated while learning, search simulations included (samples.forward_passes); "
        "training FLOPs = forward + backward of the updates (compute.train_flops); total FLOPs = training + the "
        "learner's inference while learning + Stockfish work done for it (compute.engine_flops). Episodes are each "
        "learner's own (mcts games, rlvr rollouts) and never decide.",
        "Ratio interval [rlvr.early / mcts.late, rlvr.late / mcts.early]: 0 or ∞ where a bound is open (e.g. mcts's "
        "untrained player's interval already reaching the threshold puts mcts.early at 0). 'not recorded': a "
        "learner's records lack the unit (older runs) or keep it at 0 after learning (a counter it does not keep): "
        "that unit is 'no evidence', which the claim then takes if it is the weakest."])
