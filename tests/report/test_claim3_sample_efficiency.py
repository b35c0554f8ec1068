"""Claim 3 on the synthetic tree: at r2 (-200), the highest rung both reached, rlvr needed 100× [10, ∞] the
episodes of mcts (test_reach.py has the hand computation): at least the 'far' factor 10."""

from __future__ import annotations

import pytest

from bench.report.claims import Analysis, claim_sample_efficiency
from bench.report.costs import load_settings
from bench.report.loading import load_runs
from tests.report.synthetic import make_tree


@pytest.fixture(scope="module")
def analysis(tmp_path_factory: pytest.TempPathFactory) -> Analysis:
    return Analysis(load_runs([make_tree(tmp_path_factory.mktemp("syn"))]), load_settings())


def test_claim_sample_efficiency(analysis: Analysis) -> None:
    claim = claim_sample_efficiency(analysis)
    assert claim.verdict == "supported strongly"
    assert "at r2 (-200), rules synthetic: rlvr needed 100× [10, ∞]" in claim.evidence
    assert "smallest detectable difference from the threshold at each reach: mcts 101 Elo, rlvr 101 Elo" \
        in claim.evidence


def test_claim_sample_efficiency_follows_far_factor(analysis: Analysis) -> None:
    strict = Analysis(analysis.runs, load_settings(overrides=["far_factor=20"]))
    claim = claim_sample_efficiency(strict)
    assert claim.verdict == "supported" and "'far' (≥ 20×) is not established" in claim.evidence


def test_claim_sample_efficiency_without_rlvr(analysis: Analysis) -> None:
    only = Analysis([r for r in analysis.runs if r.learner != "rlvr"], analysis.settings)
    assert claim_sample_efficiency(only).verdict == "no evidence"
