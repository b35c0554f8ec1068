"""Claim 2 on the synthetic tree: rlvr first reached r2 (-200) after 10,000 rollouts = 625 tasks [625, > 625]."""

from __future__ import annotations

import pytest

from bench.report.claims import Analysis, claim_rlvr_cost
from bench.report.costs import load_settings
from bench.report.loading import load_runs
from tests.report.synthetic import make_tree


@pytest.fixture(scope="module")
def analysis(tmp_path_factory: pytest.TempPathFactory) -> Analysis:
    return Analysis(load_runs([make_tree(tmp_path_factory.mktemp("syn"))]), load_settings())


def test_claim_rlvr_cost_without_reference_figures(analysis: Analysis) -> None:
    claim = claim_rlvr_cost(analysis)
    assert claim.verdict == "no evidence"
    assert "r2 (-200) (rules synthetic) after 625 [625, > 625] tasks" in claim.evidence and "$2,000" in claim.evidence
    assert "smallest detectable difference from the threshold there: 101 Elo" in claim.evidence  # 2.80 * 70.7 / 1.96


@pytest.mark.parametrize("tasks, verdict", [(100, "supported"), (1000, "inconclusive")])
def test_claim_rlvr_cost_against_other_tasks(analysis: Analysis, tasks: int, verdict: str) -> None:
    other = Analysis(analysis.runs, load_settings(overrides=[f"other_rlvr_tasks=[{{name: toy, tasks: {tasks}, "
                                                             "source: s}]"]))
    claim = claim_rlvr_cost(other)
    assert claim.verdict == verdict and f"toy: {tasks:,} tasks" in claim.evidence  # [625, > 625] vs the figure
