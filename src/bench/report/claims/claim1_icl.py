"""Seed claim 1: in-context learning cannot reach strong play, and is weaker than RLVR.

(a) Every icl evaluation against `strong_elo`, a fixed Elo on the ladder's scale (absolute intervals: the
ladder's error relative to its anchor counts). (b) The best final rlvr_llm configuration minus the best final icl
configuration on the same base model (`learner_info.backend`) and a scale they share (`compare.difference`, ladder
error cancelled). The claim is about what RLVR does to a language model against what its context does, so the
small-policy rlvr (another model) gives no verdict on (b): its difference from icl is shown beside it as context.
"""

from __future__ import annotations

from bench.report.claims.analysis import Analysis, elo_text
from bench.report.claims.base import ClaimLine
from bench.report.compare import Comparison, difference, mdd_text, side_verdict, versus_value, weakest
from bench.report.loading import Run, get
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


def base_model(run: Run) -> str:
    """The language model a run learned with (icl and rlvr_llm record their backend, e.g. embedded:<model>)."""
    return str(get(run.final, "learner_info.backend") or "unknown model")


def small_policy_context(analysis: Analysis) -> str:
    """The small-policy rlvr minus icl, when they share a scale: context for (b), not a same-model verdict."""
    shared = analysis.scales_of("icl", "rlvr") if "rlvr" in analysis.learners else []
    if not shared:
        return ""
    icl, rlvr = analysis.best_final("icl", shared[0]), analysis.best_final("rlvr", shared[0])
    d, how = difference(rlvr.rated, icl.rated, shared[0])  # type: ignore[union-attr]
    return (f"; for context only, the small-policy rlvr (a different model) minus icl: {Comparison(d, how).text()}, "
            "which mixes the learning method with the model")


def part_vs_rlvr(analysis: Analysis) -> tuple[str, str]:
    context = small_policy_context(analysis)
    if "rlvr_llm" not in analysis.learners:
        return "no evidence", ("no rlvr_llm runs: (b) is judged between icl and RLVR on the same base model (run "
                               "`learner=rlvr_llm` beside `learner=icl`)" + context)
    pairs = []
    for scale in analysis.scales_of("icl", "rlvr_llm"):
        icl_runs, llm_runs = analysis.runs_on(scale, "icl"), analysis.runs_on(scale, "rlvr_llm")
        for model in sorted({base_model(r) for r in icl_runs} & {base_model(r) for r in llm_runs}):
            pairs.append((scale, model, [r for r in icl_runs if base_model(r) == model],
                          [r for r in llm_runs if base_model(r) == model]))
    if not pairs:
        icl = {f"{base_model(r)} ({r.scale.label})" for r in analysis.runs if r.learner == "icl"}
        llm = {f"{base_model(r)} ({r.scale.label})" for r in analysis.runs if r.learner == "rlvr_llm"}
        return "different scales", (f"icl ({'; '.join(sorted(icl))}) and rlvr_llm ({'; '.join(sorted(llm))}) share "
                                    "no base model on one scale: no verdict between them" + context)
    scale, model, icl_runs, llm_runs = max(pairs, key=lambda p: len(p[2]) + len(p[3]))
    icl, rlvr = analysis.best_final("icl", scale, icl_runs), analysis.best_final("rlvr_llm", scale, llm_runs)
    d, how = difference(rlvr.rated, icl.rated, scale)  # type: ignore[union-attr]
    verdict = side_verdict(d)
    text = (f"on the same base model ({model}), best final Elo: rlvr_llm {rlvr.elo_text()} ({rlvr.label}) vs icl "  # type: ignore[union-attr]
            f"{icl.elo_text()} ({icl.label}); rlvr_llm - icl: {Comparison(d, how).text()}")  # type: ignore[union-attr]
    if verdict == "inconclusive":
        text += "; the interval spans 0: the difference is below what these evaluations can detect"
    return verdict, text + context


def claim_icl(analysis: Analysis) -> ClaimLine:
    if not any(run.learner == "icl" for run in analysis.runs):
        return ClaimLine(1, CLAIM, "no evidence", "no icl runs were given.")
    (va, ta), (vb, tb) = part_strong(analysis), part_vs_rlvr(analysis)
    return ClaimLine(1, CLAIM, weakest([va, vb]), f"(a) {va}: {ta}. (b) {vb}: {tb}.")
