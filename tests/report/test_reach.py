"""First reach, pooling of seeds and ratios against a hand computation on the synthetic tree (synthetic.py).

The synthetic ladder has a zero covariance, so comparisons with a rung carry game noise only: one seed's 95%
interval is +-100 (mcts, rlvr), and the mean of two seeds has SE sqrt(2) * (100 / 1.96) / 2, i.e. +-70.71.

Threshold r1 (-400), mcts at 64 simulations, games [0, 10, 100, 1000]:
  seeds' Elo [-600, -450, -150, 100] and [-600, -350, -250, 50]; mean [-600, -400, -200, 75]
  point 10 (mean -400 >= -400), early 10 (-400 + 70.7 >= -400), late 100 (-200 - 70.7 >= -400)
rlvr, rollouts [0, 100, 1000, 10000]: mean of [-600, -500, -380, -150] and [-600, -550, -420, -180] is
  [-600, -525, -400, -165]: point 1000, early 1000 (-525 + 70.7 < -400), late 10000 (-400 - 70.7 < -400)
ratio rlvr/mcts at r1: 1000 / 10 = 100, interval [1000 / 100, 10000 / 10] = [10, 1000].
Threshold r2 (-200): mcts (100, 100, 1000) (75 - 70.7 = 4.3 >= -200 at 1000); rlvr (10000, 10000, never)
  (-165 - 70.7 < -200), so the ratio is 10000 / 100 = 100 with interval [10000 / 1000, ∞] = [10, ∞].
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from bench.report.claims import Analysis, Ratio, Reach, Threshold, first_reach, ratio, ratio_verdict, reach_table
from bench.report.claims.reach import RatedPoint, config_points, run_rated_points
from bench.report.compare import pool
from bench.report.costs import load_settings
from bench.report.loading import load_runs
from bench.report.scales import Rated, Scale
from bench.report.series import run_points
from tests.report.synthetic import config, make_tree, record, write_run

Z = 1.959963984540054
FLAT = Scale(key="k", rules="r", rules_description="r", calibration="c", ratings={"a": -400.0}, order=["a"],
             cov=__import__("numpy").zeros((1, 1)), covariance_source="test")


def rated(elo: float, half: float = 100.0) -> Rated:
    se = half / Z
    return Rated(elo, se, {"a": 1.0}, se, elo - half, elo + half)


def curve(xs: list[float], elos: list[float], half: float = 100.0) -> list[RatedPoint]:
    return [RatedPoint(x, rated(e, half), i) for i, (x, e) in enumerate(zip(xs, elos))]


@pytest.fixture(scope="module")
def analysis(tmp_path_factory: pytest.TempPathFactory) -> Analysis:
    root = make_tree(tmp_path_factory.mktemp("syn"))
    return Analysis(load_runs([root]), load_settings())


def test_first_reach_point_early_late() -> None:
    threshold = Threshold(-400.0, "a")
    reach = first_reach(curve([0, 10, 100, 1000], [-600, -450, -150, 100]), threshold, FLAT)
    assert (reach.point, reach.early, reach.late, reach.spent) == (100, 10, 100, 1000)
    assert reach.mdd == pytest.approx((Z + 0.8416212335729143) * 100 / Z)
    never = first_reach(curve([0, 10], [-600, -550]), Threshold(0.0), FLAT)
    assert (never.point, never.early, never.late, never.spent) == (None, None, None, 10)


def test_first_reach_interval_does_not_widen_as_seeds_are_added() -> None:
    """The seeds' mean at each evaluation has game SE se / sqrt(k): with 1, 2 and 4 seeds of the same curve the
    [early, late] interval can only shrink; with the old envelope (least early, greatest late) it could only grow."""
    xs, elos = [0, 10, 20, 40, 80, 160], [-600, -500, -440, -400, -360, -300]
    widths = []
    for k in (1, 2, 4):
        pooled = [RatedPoint(x, pool([rated(e)] * k, FLAT), i) for i, (x, e) in enumerate(zip(xs, elos))]
        reach = first_reach(pooled, Threshold(-400.0, "a"), FLAT)
        widths.append(reach.late - reach.early)
    assert widths == sorted(widths, reverse=True) and widths[-1] < widths[0]
    assert pool([rated(-400.0)] * 4, FLAT).se_games == pytest.approx(100 / Z / 2)


def test_ratio_interval_and_censoring() -> None:
    r = ratio(Reach(55, 10, 100, 1000), Reach(5500, 100, 10000, 10000))
    assert r == Ratio(point=100, low=1.0, high=1000.0)
    censored = ratio(Reach(1000, 1000, None, 1000), Reach(None, None, None, 10000))
    assert censored == Ratio(point=10.0, low=None, high=None, censored=True)
    assert ratio(Reach(None, 5, None, 10), Reach(1, 1, 1, 1)) is None


@pytest.mark.parametrize("r, far, verdict", [
    (Ratio(18.2, 10.0, None), 10, "supported strongly"),
    (Ratio(18.2, 2.0, None), 10, "supported"),
    (Ratio(100, 1.0, 1000), 10, "inconclusive"),
    (Ratio(0.5, 0.1, 0.9), 10, "contradicted"),
    (Ratio(0.8, 0.1, 3.0), 10, "inconclusive"),
    (None, 10, "no evidence"),
])
def test_ratio_verdicts(r: Ratio | None, far: float, verdict: str) -> None:
    assert ratio_verdict(r, far) == verdict


def test_thresholds_are_calibrated_rungs_or_fixed_values(analysis: Analysis) -> None:
    (scale,) = analysis.scales.values()
    assert [(t.rung, t.value) for t in analysis.thresholds(scale)] == [("r1", -400), ("r2", -200), ("r3", 0)]
    fixed = Analysis(analysis.runs, load_settings(overrides=["thresholds=[-300,0,150]"]))
    assert [(t.rung, t.value) for t in fixed.thresholds(scale)] == [(None, -300), (None, 0)]  # best Elo is 100


def test_learner_reach_matches_hand_computation(analysis: Analysis) -> None:
    (scale,) = analysis.scales.values()
    r1, r2 = (t for t in analysis.thresholds(scale) if t.rung in ("r1", "r2"))
    mcts, rlvr = analysis.learner_reach("mcts", r1, scale), analysis.learner_reach("rlvr", r1, scale)
    assert (mcts.episodes.point, mcts.episodes.early, mcts.episodes.late) == (10, 10, 100)
    assert mcts.episodes.label == "mcts eval_simulations=64"  # the frontier: 64 beats 16 simulations (point 100)
    assert (rlvr.episodes.point, rlvr.episodes.early, rlvr.episodes.late) == (1000, 1000, 10000)
    assert (mcts.flops.point, mcts.flops.early, mcts.flops.late) == (10e9, 10e9, 100e9)  # 1e9 FLOPs per game
    assert ratio(mcts.episodes, rlvr.episodes) == Ratio(100, 10.0, 1000.0)
    at_r2 = ratio(analysis.learner_reach("mcts", r2, scale).episodes, analysis.learner_reach("rlvr", r2, scale).episodes)
    assert at_r2.point == pytest.approx(100) and at_r2.low == 10 and at_r2.high is None


def test_config_points_pool_the_seeds(analysis: Analysis) -> None:
    group = next(g for g in analysis.configs.values() if g[0].label == "mcts eval_simulations=64")
    points = config_points(group, "samples.games")
    assert [p.rated.elo for p in points] == [-600, -400, -200, 75]
    assert points[-1].rated.se_games == pytest.approx(math.sqrt(2) * 100 / Z / 2)


def test_reach_table_rows(analysis: Analysis) -> None:
    rows = {(r[1], r[2]): r for r in reach_table(analysis).rows}
    assert rows[("r1 (-400)", "mcts")][5] == "games: 10 [10, 100]"
    assert rows[("r1 (-400)", "rlvr")][5] == "rollouts: 1,000 [1,000, 10,000]"
    assert rows[("r2 (-200)", "rlvr")][5] == "rollouts: 10,000 [10,000, > 10,000]"
    assert rows[("r3 (0)", "rlvr")][5] == "rollouts: not reached (> 10,000)"
    assert rows[("r1 (-400)", "mcts")][0] == "synthetic"  # the rules every row was measured under
    # rlvr at r2 in the seeds' LLM terms: 10,000 rollouts / 16 = 625 tasks x 320K tokens x $10/M = $2,000
    assert rows[("r2 (-200)", "rlvr")][10] == "625 tasks = $2,000"
    # positions: 40 a game for mcts, 5 a rollout for rlvr (synthetic.MCTS_PER_GAME, RLVR_PER_ROLLOUT)
    assert rows[("r1 (-400)", "mcts")][6] == "400 [400, 4,000]"
    assert rows[("r1 (-400)", "rlvr")][6] == "5,000 [5,000, 50,000]"


def test_evaluation_0_sits_at_0_and_bounds_the_first_threshold_early(tmp_path: Path) -> None:
    """The untrained player (evaluation 0, -450 +- 100) may already be at r1 (-400): its interval's upper end
    -350 reaches it, so the early bound is 0 spent, whether evaluation 0 carries zeroed counters (issue 14) or,
    as records before it did, `samples: {}`. Hand computation, one seed: point 1,000 (-380 >= -400), early 0,
    late 4,000 (-250 - 100 >= -400; -380 - 100 < -400)."""
    for name, zero in (("new", {"positions": 0}), ("old", {})):
        recs = [record(0, -450, 100, {}, zero, "mcts", 0), record(1, -380, 100, {}, {"positions": 1000}, "mcts", 0),
                record(2, -250, 100, {}, {"positions": 4000}, "mcts", 0)]
        for r in recs:
            r["budget"]["spent"] = r["samples"].get("positions", 0)
        write_run(tmp_path / name / "mcts", recs, config("mcts", 0))
        (run,) = load_runs([tmp_path / name])
        assert [p.x for p in run_rated_points(run, "samples.positions")] == [0, 1000, 4000]
        assert [p.x for p in run_points(run, "samples.positions")] == [0, 1000, 4000]
        reach = first_reach(config_points([run], "samples.positions"), Threshold(-400.0, "r1"), run.scale)
        assert (reach.point, reach.early, reach.late) == (1000, 0, 4000)
        # mcts.early = 0 leaves the ratio's upper end open: rlvr / mcts could be any size
        assert ratio(reach, Reach(2000, 1000, 8000, 8000)) == Ratio(2.0, 0.25, None)
