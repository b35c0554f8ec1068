"""Seed claim 4: continual learning (per-user LoRA, recurrent state) performs only at the level of ICL.

An equivalence claim, so it is tested as one (two one-sided tests, `bench.elo.equivalence_test`): per memory
kind, its best final configuration minus context-only icl's on a shared scale, ladder error cancelled;
"supported" when equivalent within ±`equivalence_margin` Elo, "contradicted" when different, else
"inconclusive". Overlapping intervals are not evidence of equality. rlvr_llm on the same base model (weights
changed by RLVR rather than by the games) is shown beside them as context, not as part of the verdict.
"""

from __future__ import annotations

from bench import elo
from bench.report.claims.analysis import Analysis
from bench.report.claims.base import ClaimLine
from bench.report.claims.claim1_icl import base_model
from bench.report.compare import LEVEL, Comparison, difference, weakest
from bench.report.loading import Run, get

CLAIM = ("Continual learning in near-term forms (per-user LoRA, recurrent state) performs only at the level of "
         "in-context learning.")


def claim_continual(analysis: Analysis) -> ClaimLine:
    margin = analysis.settings.equivalence_margin
    kinds: dict[str, list[Run]] = {}
    for run in (r for r in analysis.runs if r.learner == "icl"):
        kind = str(get(run.final, "learner_info.memory") or get(run.config, "learner.memory") or "context")
        kinds.setdefault(kind, []).append(run)
    context = kinds.pop("context", [])
    if not kinds:
        return ClaimLine(4, CLAIM, "no evidence", "no icl runs with a continual-learning memory (learner_info."
                         "memory lora, both or another non-context form) were given; run `learner=icl learner.memory="
                         "lora` (and `memory=both`) beside `memory=context` to answer it."
                         + (f" {len(context)} context-only icl runs are present." if context else ""))
    if not context:
        return ClaimLine(4, CLAIM, "no evidence", "no context-only icl runs to compare with.")
    parts, verdicts = [], []
    for kind, runs in sorted(kinds.items()):
        shared = [s for s in analysis.scales_of("icl") if any(r.scale.key == s.key for r in runs)
                  and any(r.scale.key == s.key for r in context)]
        if not shared:
            verdicts.append("different scales")
            parts.append(f"memory={kind} and context-only icl were evaluated on different scales: no verdict")
            continue
        scale = shared[0]
        mine, base = analysis.best_final("icl", scale, runs), analysis.best_final("icl", scale, context)
        d, how = difference(mine.rated, base.rated, scale)  # type: ignore[union-attr]
        result = elo.equivalence_test(d.diff, d.se, margin, LEVEL)
        verdict = {"equivalent": "supported", "different": "contradicted"}[result] if result != "inconclusive" \
            else "inconclusive"
        reading = {"equivalent": f"equivalent within ±{margin:g} Elo",
                   "different": f"different ({'above' if d.diff > 0 else 'below'} in-context learning)",
                   "inconclusive": f"inconclusive: neither equivalence within ±{margin:g} nor a difference is shown"}
        verdicts.append(verdict)
        parts.append(f"memory={kind} {mine.elo_text()} vs context {base.elo_text()}: "  # type: ignore[union-attr]
                     f"{reading[result]} (two one-sided tests at 5%); {Comparison(d, how).text()}")
    return ClaimLine(4, CLAIM, weakest(verdicts), "; ".join(parts + rlvr_llm_context(analysis, context)) + ".")


def rlvr_llm_context(analysis: Analysis, context: list[Run]) -> list[str]:
    """rlvr_llm minus context-only icl on the same base model and scale, for the reader (not in the verdict)."""
    llm = [r for r in analysis.runs if r.learner == "rlvr_llm"]
    for scale in analysis.scales_of("icl", "rlvr_llm"):
        for model in sorted({base_model(r) for r in context} & {base_model(r) for r in llm}):
            base = analysis.best_final("icl", scale, [r for r in context if base_model(r) == model])
            mine = analysis.best_final("rlvr_llm", scale, [r for r in llm if base_model(r) == model])
            if base is None or mine is None:
                continue
            d, how = difference(mine.rated, base.rated, scale)
            return [f"for context (not in the verdict), rlvr_llm on the same base model ({model}) {mine.elo_text()} "
                    f"vs context {base.elo_text()}: {Comparison(d, how).text()}"]
    return []
