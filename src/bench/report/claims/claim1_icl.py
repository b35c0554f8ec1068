"""Seed claim 1: in-context learning cannot reach strong play, and is weaker than RLVR.

(a) Every icl evaluation against `strong_elo`, a fixed Elo on the ladder's scale (absolute intervals: the
ladder's error relative to its anchor counts). (b) The best final rlvr configuration minus the best final icl
configuration on a scale they share (`compare.difference`, ladder error cancelled); none shared: no verdict.
"""

from __future__ import annotations

from bench.report.claims.analysis import Analysis, elo_text
from bench.report.claims.base import ClaimLine
from bench.report.compare import Comparison, difference, mdd_text, side_verdict, versus_value, weakest
from bench.report.loading import get
from bench.report.scales import rated_of
from bench.report.tables import fmt_num

CLAIM = "In-context learning cannot reach strong play and is weaker than RLVR at the strength of skills it instills."


def part_strong(analysis: Analysis) -> tuple[str, str]:
    strong = analysis.settings.strong_elo
    rated = [(rated_of(r, run.scale), run.scale, r) for run in analysis.runs if run.learner == "icl"
             for r in run.records]
    comparisons = [(versus_value(x, s, strong)[0], x, s) for x, s, _ in rated]
    best_d, best_x, best_s = max(comparisons, key=lambda c: c[1].elo)
    games = max(float(get(r, "samples.games", 0) or 0) for _, _, r in rated)
    tokens = max(float(get(r, "samples.tokens", 0) or 0) for _, _, r in rated)
    reach = f"strong play ({strong:.0f} on the ladder's scale)"
    best = f"best icl evaluation {elo_text(best_x, best_s)}, {mdd_text(best_d)} from {strong:.0f}"
    if any(d.low >= 0 or x.low >= strong for d, x, _ in comparisons):
        return "contradicted", f"an icl evaluation's 95% interval lies at or above {reach}; {best}"
    if all(d.high < 0 for d, _, _ in comparisons) and not any((x.edge or "").startswith("above") for x, _, _ in rated):
        return "supported", (f"every icl evaluation's 95% interval lies below {reach}; {best}; after up to "
                             f"{fmt_num(games)} games and {fmt_num(tokens)} tokens of learning: a bound on these runs "
                             "and budgets, not proof that no in-context learner could")
    return "inconclusive", f"an icl evaluation's 95% interval reaches {reach}; {best}"


def part_vs_rlvr(analysis: Analysis) -> tuple[str, str]:
    if "rlvr" not in analysis.learners:
        return "no evidence", "no rlvr runs to compare with"
    shared = analysis.scales_of("icl", "rlvr")
    if not shared:
        icl = {r.scale.label for r in analysis.runs if r.learner == "icl"}
        rlvr = {r.scale.label for r in analysis.runs if r.learner == "rlvr"}
        return "different scales", (f"icl ({'; '.join(sorted(icl))}) and rlvr ({'; '.join(sorted(rlvr))}) are on "
                                    "different scales: no verdict between them")
    scale = shared[0]
    icl, rlvr = analysis.best_final("icl", scale), analysis.best_final("rlvr", scale)
    d, how = difference(rlvr.rated, icl.rated, scale)  # type: ignore[union-attr]
    verdict = side_verdict(d)
    text = (f"best final Elo: rlvr {rlvr.elo_text()} ({rlvr.label}) vs icl {icl.elo_text()} ({icl.label}); "  # type: ignore[union-attr]
            f"rlvr - icl: {Comparison(d, how).text()}")
    if verdict == "inconclusive":
        text += "; the interval spans 0: the difference is below what these evaluations can detect"
    return verdict, text


def claim_icl(analysis: Analysis) -> ClaimLine:
    if not any(run.learner == "icl" for run in analysis.runs):
        return ClaimLine(1, CLAIM, "no evidence", "no icl runs were given.")
    (va, ta), (vb, tb) = part_strong(analysis), part_vs_rlvr(analysis)
    return ClaimLine(1, CLAIM, weakest([va, vb]), f"(a) {va}: {ta}. (b) {vb}: {tb}.")
