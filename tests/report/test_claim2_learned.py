"""Seed claim 2's definition of "learned" (issue 19): compute to close 50% / 90% of the held-out gap, by hand."""

from __future__ import annotations

import math

import pytest

from bench.report.claims.learned import Crossing, crossing, ratio, summarise, verdict


def test_crossing_interpolates_between_evaluations() -> None:
    # start 0.2, ceiling 1: the 50% target is 0.6, reached between 100 (0.4) and 200 (0.8): at 150
    curve = [(0, 0.2), (100, 0.4), (200, 0.8), (300, 0.95)]
    half = crossing(curve, 0.5)
    assert (half.start, half.target, half.compute, half.spent) == (0.2, pytest.approx(0.6), pytest.approx(150), 300)
    # 90%: 0.92, between 200 (0.8) and 300 (0.95): 200 + 100 x 0.12 / 0.15 = 280
    assert crossing(curve, 0.9).compute == pytest.approx(280)
    assert crossing(list(reversed(curve)), 0.5).compute == pytest.approx(150)  # order does not matter


def test_a_curve_that_never_reaches_the_target_is_censored_at_its_spend() -> None:
    c = crossing([(0, 0.1), (50, 0.3), (90, 0.2)], 0.5)
    assert c.censored and c.compute is None and c.value == 90 and c.target == pytest.approx(0.55)


def test_a_dip_after_the_crossing_does_not_matter_and_the_ceiling_is_a_parameter() -> None:
    assert crossing([(0, 0.0), (10, 0.5), (20, 0.1)], 0.5).compute == pytest.approx(10)
    # ceiling 0.5 (say a family whose best possible is half): 50% of the way from 0.1 is 0.3
    assert crossing([(0, 0.1), (10, 0.2), (20, 0.4)], 0.5, ceiling=0.5).compute == pytest.approx(15)


def test_a_run_at_the_ceiling_from_the_start_needs_nothing() -> None:
    assert crossing([(0, 1.0), (10, 1.0)], 0.9).compute == 0


def test_summary_is_a_geometric_mean_with_a_t_interval_over_seeds() -> None:
    seeds = [Crossing(0.5, 0, 0.5, v, 1000) for v in (100, 400)]
    s = summarise(seeds)
    assert s.geomean == pytest.approx(200)
    # logs: ln100, ln400; sd = ln4 / sqrt2; half = t(0.975, 1) x sd / sqrt2 = 12.706 x ln4 / 2
    half = 12.7062 * math.log(4) / 2
    assert s.low == pytest.approx(200 * math.exp(-half), rel=1e-3) and s.high == pytest.approx(200 * math.exp(half),
                                                                                                rel=1e-3)
    one = summarise(seeds[:1])
    assert one.low is None and one.geomean == pytest.approx(100)
    censored = summarise([seeds[0], Crossing(0.5, 0, 0.5, None, 1000)])
    assert censored.bound == ">=" and censored.low is None and censored.geomean == pytest.approx(math.sqrt(1e5))


def test_ratio_with_welch_interval_and_verdicts() -> None:
    chess = [Crossing(0.5, 0, 0.5, v, 1e6) for v in (1000, 1200, 900)]
    other = [Crossing(0.5, 0, 0.5, v, 1e6) for v in (10, 12, 9)]
    r = ratio(chess, other)
    assert r.point == pytest.approx(100) and r.low is not None and r.low > 50 and r.high < 200
    assert verdict(r) == "supported" and verdict(ratio(other, chess)) == "contradicted"
    same = ratio(chess, chess)
    assert same.point == pytest.approx(1) and verdict(same) == "inconclusive"
    assert ratio(chess[:1], other[:1]).text().endswith("(fewer than 2 seeds a side: no interval)")


def test_censoring_makes_the_ratio_a_bound() -> None:
    reached = [Crossing(0.5, 0, 0.5, v, 100) for v in (10, 12)]
    never = [Crossing(0.5, 0, 0.5, None, v) for v in (5000, 6000)]
    r = ratio(never, reached)
    assert (r.bound, r.point, r.high) == (">=", pytest.approx(500), None) and r.low is not None and r.low > 1
    assert verdict(r) == "supported"
    back = ratio(reached, never)
    assert back.bound == "<=" and back.low is None and verdict(back) == "contradicted"
    assert ratio(never, never).bound == "?" and verdict(ratio(never, never)) == "inconclusive"
    # one seed a side: a bound, but no interval, so no verdict
    one = ratio(never[:1], reached[:1])
    assert one.bound == ">=" and verdict(one) == "inconclusive" and "no interval" in one.text()


def test_a_family_that_needs_no_compute_makes_the_ratio_undetermined() -> None:
    zero = [Crossing(0.5, 1.0, 1.0, 0.0, 100)]
    some = [Crossing(0.5, 0, 0.5, 10, 100)]
    assert summarise(zero).geomean == 0 and ratio(some, zero).bound == "?" and verdict(ratio(zero, some)) == \
        "inconclusive"
