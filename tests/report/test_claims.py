"""The claims table against a hand computation on the synthetic tree (tests/report/synthetic.py).

Hand computation, threshold -400 (floor -600 + 200), mcts at 64 simulations, games [0, 10, 100, 1000], CI ±100:
  seed 0 Elo [-600, -450, -150, 100]: point 100 (first Elo >= -400), early 10 (-450+100 >= -400), late 100
  seed 1 Elo [-600, -350, -250, 50]:  point 10, early 10, late 100 (-250-100 >= -400)
  configuration: point median(100, 10) = 55, early min = 10, late max = 100
rlvr, rollouts [0, 100, 1000, 10000]:
  seed 0 Elo [-600, -500, -380, -150]: point 1000, early 100, late 10000
  seed 1 Elo [-600, -550, -420, -180]: point 10000, early 1000, late 10000
  configuration: point 5500, early 100, late 10000
ratio rlvr/mcts: 5500/55 = 100, interval [100/100, 10000/10] = [1, 1000]: suggested, not established.
Threshold -200: mcts (550, 100, 1000); rlvr (10000, 10000, never) -> ratio 10000/550 = 18.18, [10000/1000, ∞]
  = [10, ∞]: at least the 'far' factor 10, so claim 3 is supported strongly at the highest threshold both reached.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from bench.report.claims import (Analysis, Ratio, Reach, claim_continual, claim_icl, claim_rlvr_cost,
                                 claim_sample_efficiency, combine_seeds, final_table, first_reach, ratio,
                                 ratio_verdict, reach_table, thresholds)
from bench.report.costs import ReportSettings, load_settings
from bench.report.loading import load_runs
from bench.report.series import Point
from tests.report.synthetic import make_tree


def pts(xs: list[float], elos: list[float], half: float = 100) -> list[Point]:
    return [Point(x=x, elo=e, low=e - half, high=e + half, eval_index=i) for i, (x, e) in enumerate(zip(xs, elos))]


@pytest.fixture(scope="module")
def analysis(tmp_path_factory: pytest.TempPathFactory) -> Analysis:
    root = make_tree(tmp_path_factory.mktemp("syn"))
    return Analysis(load_runs([root]), load_settings())


def test_first_reach_point_early_late() -> None:
    reach = first_reach(pts([0, 10, 100, 1000], [-600, -450, -150, 100]), -400)
    assert (reach.point, reach.early, reach.late, reach.spent) == (100, 10, 100, 1000)
    never = first_reach(pts([0, 10], [-600, -550]), 0)
    assert (never.point, never.early, never.late, never.spent) == (None, None, None, 10)


def test_seeds_combine_median_least_greatest() -> None:
    combined = combine_seeds([Reach(100, 10, 100, 1000), Reach(10, 10, 100, 1000)])
    assert (combined.point, combined.early, combined.late, combined.seeds) == (55, 10, 100, 2)
    partial = combine_seeds([Reach(100, 10, 100, 1000), Reach(None, 50, None, 800)])
    assert (partial.point, partial.early, partial.late, partial.spent) == (None, 10, None, 800)


def test_ratio_interval_and_censoring() -> None:
    r = ratio(Reach(55, 10, 100, 1000), Reach(5500, 100, 10000, 10000))
    assert r == Ratio(point=100, low=1.0, high=1000.0)
    censored = ratio(Reach(1000, 1000, None, 1000), Reach(None, None, None, 10000))
    assert censored == Ratio(point=10.0, low=None, high=None, censored=True)
    assert ratio(Reach(None, 5, None, 10), Reach(1, 1, 1, 1)) is None


@pytest.mark.parametrize("r, far, verdict", [
    (Ratio(18.2, 10.0, None), 10, "supported strongly"),
    (Ratio(18.2, 2.0, None), 10, "supported"),
    (Ratio(100, 1.0, 1000), 10, "suggested, not established"),
    (Ratio(0.5, 0.1, 0.9), 10, "contradicted"),
    (Ratio(0.8, 0.1, 3.0), 10, "not supported"),
    (None, 10, "no evidence"),
])
def test_ratio_verdicts(r: Ratio | None, far: float, verdict: str) -> None:
    assert ratio_verdict(r, far) == verdict


def test_thresholds_from_the_floor(analysis: Analysis) -> None:
    assert analysis.floor == -600
    assert analysis.thresholds == [-400, -200, 0]  # best learning Elo is 100; -600 + 800 = 200 > 100
    few, _, _ = thresholds(analysis.runs, ReportSettings(threshold_step=300))
    assert few == [-300, 0]


def test_learner_reach_matches_hand_computation(analysis: Analysis) -> None:
    mcts, rlvr = analysis.learner_reach("mcts", -400), analysis.learner_reach("rlvr", -400)
    assert (mcts.episodes.point, mcts.episodes.early, mcts.episodes.late) == (55, 10, 100)
    assert mcts.episodes.label == "mcts eval_simulations=64"  # the frontier: 64 beats 16 simulations (point 100)
    assert (rlvr.episodes.point, rlvr.episodes.early, rlvr.episodes.late) == (5500, 100, 10000)
    # training FLOPs: mcts spends 1e9 per game, rlvr 1e8 per rollout
    assert (mcts.flops.point, mcts.flops.early, mcts.flops.late) == (55e9, 10e9, 100e9)
    assert ratio(mcts.episodes, rlvr.episodes) == Ratio(100, 1.0, 1000.0)
    at200 = ratio(analysis.learner_reach("mcts", -200).episodes, analysis.learner_reach("rlvr", -200).episodes)
    assert at200.point == pytest.approx(10000 / 550) and at200.low == 10 and at200.high is None


def test_reach_table_rows(analysis: Analysis) -> None:
    rows = {(r[0], r[1]): r for r in reach_table(analysis).rows}
    assert rows[("-400 (floor+200)", "mcts")][4] == "games: 55 [10, 100]"
    assert rows[("-400 (floor+200)", "rlvr")][4] == "rollouts: 5,500 [100, 10,000]"
    assert rows[("-200 (floor+400)", "rlvr")][4] == "rollouts: 10,000 [10,000, > 10,000]"
    assert rows[("0 (floor+600)", "rlvr")][4] == "rollouts: not reached (> 10,000)"
    # rlvr at -200 in the seeds' LLM terms: 10,000 rollouts / 16 = 625 tasks x 320K tokens x $10/M = $2,000
    assert rows[("-200 (floor+400)", "rlvr")][7] == "625 tasks = $2,000"


def test_final_table_aggregates_seeds(analysis: Analysis) -> None:
    row = next(r for r in final_table(analysis).rows if r[1] == "mcts eval_simulations=64")
    assert row[2] == "0, 1"
    assert row[3] == "75 [-50, 200]"  # mean of 100 and 50; envelope of [0, 200] and [-50, 150]
    assert row[4] == "50 … 100"


def test_seed_claims(analysis: Analysis) -> None:
    c3 = claim_sample_efficiency(analysis)
    assert c3.verdict == "supported strongly" and "at -200" in c3.evidence and "18.2× [10, ∞]" in c3.evidence
    c1 = claim_icl(analysis)  # icl best upper bound -360 < 1800; rlvr final -165 [-280, -50] above icl's -360
    assert c1.verdict == "supported" and "highest upper bound -360" in c1.evidence
    c4 = claim_continual(analysis)  # lora -480 [-600, -360] overlaps context -500 [-620, -380]
    assert c4.verdict == "suggested, not established" and "memory=lora" in c4.evidence
    c2 = claim_rlvr_cost(analysis)
    assert c2.verdict == "no evidence" and "625" in c2.evidence and "$2,000" in c2.evidence


def test_claims_follow_settings(analysis: Analysis) -> None:
    strict = Analysis(analysis.runs, load_settings(overrides=["strong_elo=-700", "far_factor=20"]))
    assert claim_icl(strict).verdict == "contradicted"  # an icl lower bound (-600) reaches -700
    assert claim_sample_efficiency(strict).verdict == "supported"  # [10, ∞] is above 1 but not above 20
    other = Analysis(analysis.runs, load_settings(overrides=["other_rlvr_tasks=[{name: toy, tasks: 100, source: s}]"]))
    claim = claim_rlvr_cost(other)
    assert claim.verdict == "supported" and "toy: 100 tasks" in claim.evidence  # 625 tasks, early 625 > 100


def test_continual_claim_without_lora(analysis: Analysis) -> None:
    only_context = Analysis([r for r in analysis.runs if (r.final.get("learner_info") or {}).get("memory") != "lora"],
                            analysis.settings)
    claim = claim_continual(only_context)
    assert claim.verdict == "no evidence" and "lora" in claim.evidence


def test_cost_model_conversions() -> None:
    s = ReportSettings()
    assert s.tokens_per_task == 320_000
    assert s.task_dollars(1) == pytest.approx(3.2)
    assert s.gw_year_accelerator_hour == pytest.approx(12e9 / (1e9 / 1400) / 8766)
    assert s.flop_dollars(1e15 * 0.4 * 3600) == pytest.approx(2.0)  # one accelerator-hour
    assert math.isclose(load_settings().dollars_per_million_tokens, 10.0)


def test_frontier_is_the_upper_envelope() -> None:
    from bench.report.series import Curve, frontier

    small = Curve("small", "mcts", pts([1, 10, 100], [-500, -300, -350]), [], [])
    large = Curve("large", "mcts", pts([5, 50, 200], [-400, -100, -200]), [], [])
    assert frontier([small, large]) == [(1, -500), (5, -400), (10, -300), (50, -100), (200, -100)]
