"""Claim 1 on the synthetic tree (synthetic.py): icl below strong play, and below rlvr on a shared scale.

(a) icl's best evaluation is -480 +- 120, SE 120 / 1.96 = 61.2, far below 1800: supported; its smallest detectable
difference is 2.80 * 61.2 = 172 Elo. (b) rlvr's best final is the mean of -150 and -180 = -165 (SE 36.1), icl's
-480 (SE 61.2): difference 315, SE 71.1, interval [176, 454] above 0: supported.
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


def test_claim_icl_supported_with_its_power(analysis: Analysis) -> None:
    claim = claim_icl(analysis)
    assert claim.verdict == "supported"
    assert "best icl evaluation -480 [-600, -360] (rules synthetic), smallest detectable difference 172 Elo" \
        in claim.evidence
    assert "rlvr - icl: difference +315 [+176, +454] Elo" in claim.evidence
    assert "ladder error cancelled" in claim.evidence


def test_claim_icl_follows_strong_elo(analysis: Analysis) -> None:
    strict = Analysis(analysis.runs, load_settings(overrides=["strong_elo=-700"]))
    assert claim_icl(strict).verdict == "contradicted"  # an icl interval lies wholly above -700
    near = Analysis(analysis.runs, load_settings(overrides=["strong_elo=-500"]))
    assert claim_icl(near).verdict == "inconclusive"  # intervals span -500


def test_claim_icl_on_different_scales_gives_no_verdict(tmp_path) -> None:  # noqa: ANN001
    recs = [record(0, -500, 100, {}, {"games": 0}, "icl", 0), record(1, -450, 100, {}, {"games": 4}, "icl", 0)]
    write_run(tmp_path / "icl", recs, config("icl", 0))
    other = [{**r, "learner": "rlvr", "rules": "other"} for r in
             [record(0, -300, 100, {}, {"rollouts": 0}, "rlvr", 0), record(1, 0, 100, {}, {"rollouts": 9}, "rlvr", 0)]]
    write_run(tmp_path / "rlvr", other, config("rlvr", 0))
    claim = claim_icl(Analysis(load_runs([tmp_path]), load_settings()))
    assert claim.verdict == "different scales" and "no verdict between them" in claim.evidence
