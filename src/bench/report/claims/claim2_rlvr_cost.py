"""Seed claim 2: chess takes a lot of RLVR compute compared with other RLVR tasks.

Measured first (`claim2_measured`, issue 19): rlvr_llm runs on chess and on other verifiable task families, compute
to close half the held-out gap, chess / other with intervals; when such runs are given, they decide the verdict.
External figures (typed in, not measured here, and labelled so) follow: rlvr's tasks to first reach its highest
threshold (`reach`), against reference figures for other tasks (`other_rlvr_tasks` in conf/report.yaml):
"supported" when the whole [early, late] interval lies above the other task's figure, "contradicted" when below,
else "inconclusive".
"""

from __future__ import annotations

from bench.report.claims.analysis import Analysis
from bench.report.claims.base import ClaimLine
from bench.report.claims.claim2_measured import measured_claim
from bench.report.claims.reach import best_reach, reach_text
from bench.report.compare import weakest
from bench.report.loading import get
from bench.report.tables import fmt_num

CLAIM = "Chess takes a lot of RLVR compute compared with other RLVR tasks."


def claim_rlvr_cost(analysis: Analysis) -> ClaimLine:
    external = _external(analysis)
    measured = measured_claim(analysis)
    if measured is None:
        return external
    verdict, evidence = measured
    return ClaimLine(2, CLAIM, verdict, f"{evidence}. External (typed in, not measured here; "
                     f"{external.verdict}): {external.evidence}")


def _external(analysis: Analysis) -> ClaimLine:
    """rlvr's tasks to a threshold against the typed-in `other_rlvr_tasks` figures."""
    s = analysis.settings
    scales = analysis.scales_of("rlvr")
    if not scales:
        return ClaimLine(2, CLAIM, "no evidence", "no rlvr runs were given.")
    scale = scales[0]
    groups = analysis.learner_configs("rlvr", scale)
    thresholds = analysis.thresholds(scale)
    reached = None
    for threshold in reversed(thresholds):
        reach = best_reach([r for g in groups if (r := analysis.config_reach(g, "samples.tasks", threshold))])
        if reach is not None and reach.point is not None:
            reached = (threshold, reach)
            break
    if reached is None:
        spent = max(float(get(run.final, "samples.tasks", 0) or 0) for g in groups for run in g)
        first = thresholds[0].label if thresholds else "any threshold above the ladder's bottom rung"
        chess = (f"rlvr did not reach {first} (rules {scale.rules}) within {fmt_num(spent)} tasks (for an LLM at the "
                 f"seeds' {s.tokens_per_task:,.0f} tokens per task: more than ${fmt_num(s.task_dollars(spent))})")
        low, point, high = spent, spent, None
    else:
        threshold, reach = reached
        low, point, high = reach.early, reach.point, reach.late
        mdd = f"{reach.mdd:.0f} Elo" if reach.mdd is not None else "-"
        chess = (f"rlvr first reached {threshold.label} (rules {scale.rules}) after {reach_text(reach)} tasks "
                 f"(smallest detectable difference from the threshold there: {mdd}); for an LLM at the seeds' "
                 f"{s.tokens_per_task:,.0f} tokens per task that is {fmt_num((point or 0) * s.tokens_per_task)} "
                 f"tokens = ${fmt_num(s.task_dollars(point or 0))}")
    if not s.other_rlvr_tasks:
        return ClaimLine(2, CLAIM, "no evidence", chess + ". No reference figures for other RLVR tasks are "
                         "configured (other_rlvr_tasks in conf/report.yaml), so the comparison the claim "
                         "makes cannot be judged from this data.")
    parts, verdicts = [], []
    for other in s.other_rlvr_tasks:
        if not other.tasks:
            continue
        if low is not None and low > other.tasks:
            v = "supported"
        elif high is not None and high < other.tasks:
            v = "contradicted"
        else:
            v = "inconclusive"
        verdicts.append(v)
        parts.append(f"{other.name}: {fmt_num(other.tasks)} tasks (external: {other.source}) -> {v}")
    return ClaimLine(2, CLAIM, weakest(verdicts) if verdicts else "no evidence", chess + ". " + "; ".join(parts))
