"""Claim 4 on the synthetic tree, as an equivalence test: lora's final -480 minus context's -500 is +20 with SE
sqrt(2) * 61.2 = 86.6. Margin 100: +20 + 1.645 * 86.6 = 162 > 100, and |20| < 1.96 * 86.6, so inconclusive; margin
300: [-122, +162] lies inside ±300, so equivalent (supported)."""

from __future__ import annotations

import pytest

from bench.report.claims import Analysis, claim_continual
from bench.report.costs import load_settings
from bench.report.loading import load_runs
from tests.report.synthetic import config, make_tree, record, write_run


@pytest.fixture(scope="module")
def analysis(tmp_path_factory: pytest.TempPathFactory) -> Analysis:
    return Analysis(load_runs([make_tree(tmp_path_factory.mktemp("syn"))]), load_settings())


def test_claim_continual_is_inconclusive_not_suggested(analysis: Analysis) -> None:
    claim = claim_continual(analysis)
    assert claim.verdict == "inconclusive" and "memory=lora" in claim.evidence
    assert "neither equivalence within ±100 nor a difference is shown" in claim.evidence
    assert "smallest detectable difference 243 Elo" in claim.evidence  # 2.80 * 86.6


def test_claim_continual_equivalent_within_a_wide_margin(analysis: Analysis) -> None:
    wide = Analysis(analysis.runs, load_settings(overrides=["equivalence_margin=300"]))
    claim = claim_continual(wide)
    assert claim.verdict == "supported" and "equivalent within ±300 Elo" in claim.evidence


def test_claim_continual_without_lora(analysis: Analysis) -> None:
    only_context = Analysis([r for r in analysis.runs if (r.final.get("learner_info") or {}).get("memory") != "lora"],
                            analysis.settings)
    claim = claim_continual(only_context)
    assert claim.verdict == "no evidence" and "lora" in claim.evidence


def test_rlvr_llm_on_the_same_base_model_is_shown_beside_not_judged(tmp_path) -> None:  # noqa: ANN001
    """rlvr_llm's final -165 (SE 36.1) minus context's -500 (SE 61.2, this tree's icl records carry no backend, so
    both name "unknown model"): +335, SE 71.1, [+196, +474]; the verdict stays lora's."""
    tree = make_tree(tmp_path / "syn")
    llm = [record(0, -600, 70.76, {}, {"rollouts": 0}, "rlvr_llm", 0), record(1, -165, 70.76, {}, {"rollouts": 64},
                                                                           "rlvr_llm", 0)]
    write_run(tree / "rlvr_llm", llm, config("rlvr_llm", 0))
    claim = claim_continual(Analysis(load_runs([tree]), load_settings()))
    assert claim.verdict == "inconclusive"
    assert "for context (not in the verdict), rlvr_llm on the same base model (unknown model)" in claim.evidence
    assert "difference +335 [+196, +474] Elo" in claim.evidence
