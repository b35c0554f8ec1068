"""Claim 1 on the synthetic tree (synthetic.py): icl below strong play, and below rlvr on a shared scale.

(a) icl's best evaluation is -480 +- 120, SE 120 / 1.96 = 61.2, far below 1800: supported; its smallest detectable
difference is 2.80 * 61.2 = 172 Elo. (b) is judged on one base model only: the tree's small-policy rlvr gives no
verdict, its difference is context (best final the mean of -150 and -180 = -165, SE 36.1, vs icl's -480, SE 61.2:
difference 315, SE 71.1, interval [176, 454]); rlvr_llm at -165 +- 70.8 (SE 36.1) on icl's base model gives the same
numbers and "supported".
"""

from __future__ import annotations

import pytest

from bench.report.claims import Analysis, claim_icl
from bench.report.costs import load_settings
from bench.report.loading import load_runs
from tests.report.synthetic import config, make_tree, record, write_run


@pytest.fixture(scope="module")
def analysis(tmp_path_factory: pytest.TempPathFactory) -> Analysis:
    return Analysis(load_runs([make_tree(tmp_path_factory.mktemp("syn"))]), load_settings())


def test_claim_icl_strong_part_supported_with_its_power(analysis: Analysis) -> None:
    claim = claim_icl(analysis)
    assert claim.evidence.startswith("(a) supported:")
    assert "best icl evaluation -480 [-600, -360] (rules synthetic), smallest detectable difference 172 Elo" \
        in claim.evidence


def test_small_policy_rlvr_is_context_not_a_verdict_on_part_b(analysis: Analysis) -> None:
    claim = claim_icl(analysis)
    assert claim.verdict == "no evidence" and "(b) no evidence: no rlvr_llm runs" in claim.evidence
    assert "small-policy rlvr (a different model) minus icl: difference +315 [+176, +454] Elo" in claim.evidence
    assert "ladder error cancelled" in claim.evidence


def _same_model_tree(root, rlvr_llm_model: str) -> Analysis:  # noqa: ANN001
    icl = [record(0, -600, 120, {}, {"games": 0}, "icl", 0, {"backend": "embedded:m"}),
           record(1, -480, 120, {}, {"games": 8}, "icl", 0, {"backend": "embedded:m"})]
    write_run(root / "icl", icl, config("icl", 0))
    llm = [record(0, -600, 70.76, {}, {"rollouts": 0}, "rlvr_llm", 0, {"backend": rlvr_llm_model}),
           record(1, -165, 70.76, {}, {"rollouts": 64}, "rlvr_llm", 0, {"backend": rlvr_llm_model})]
    write_run(root / "rlvr_llm", llm, config("rlvr_llm", 0))
    return Analysis(load_runs([root]), load_settings())


def test_part_b_is_judged_on_the_same_base_model(tmp_path) -> None:  # noqa: ANN001
    claim = claim_icl(_same_model_tree(tmp_path, "embedded:m"))
    assert claim.verdict == "supported", claim.evidence
    assert "(b) supported: on the same base model (embedded:m)" in claim.evidence
    assert "rlvr_llm - icl: difference +315 [+176, +454] Elo" in claim.evidence


def test_part_b_gives_no_verdict_across_base_models(tmp_path) -> None:  # noqa: ANN001
    claim = claim_icl(_same_model_tree(tmp_path, "embedded:other"))
    assert claim.verdict == "different scales" and "share no base model" in claim.evidence


def test_claim_icl_follows_strong_elo(analysis: Analysis) -> None:
    strict = Analysis(analysis.runs, load_settings(overrides=["strong_elo=-700"]))
    assert claim_icl(strict).verdict == "contradicted"  # an icl interval lies wholly above -700
    near = Analysis(analysis.runs, load_settings(overrides=["strong_elo=-500"]))
    assert claim_icl(near).evidence.startswith("(a) inconclusive")  # intervals span -500


def test_claim_icl_on_different_scales_gives_no_verdict(tmp_path) -> None:  # noqa: ANN001
    recs = [record(0, -500, 100, {}, {"games": 0}, "icl", 0), record(1, -450, 100, {}, {"games": 4}, "icl", 0)]
    write_run(tmp_path / "icl", recs, config("icl", 0))
    other = [{**r, "learner": "rlvr_llm", "rules": "other"} for r in
             [record(0, -300, 100, {}, {"rollouts": 0}, "rlvr_llm", 0), record(1, 0, 100, {}, {"rollouts": 9}, "rlvr_llm", 0)]]
    write_run(tmp_path / "rlvr_llm", other, config("rlvr_llm", 0))
    claim = claim_icl(Analysis(load_runs([tmp_path]), load_settings()))
    assert claim.verdict == "different scales" and "no verdict between them" in claim.evidence
