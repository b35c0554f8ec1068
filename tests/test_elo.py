"""Known-answer and coverage tests of the pure Elo module (seeded, a few seconds in all)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from bench.elo import (
    Estimate,
    elo_from_score,
    equivalence_test,
    expected_score,
    fit_joint,
    fit_on_ladder,
    fit_player,
    ladder_variance,
    min_detectable_difference,
    pentanomial,
    rating_difference,
    rung_weights,
    trinomial_interval,
)

Z95 = stats.norm.ppf(0.975)


def simulate_games(rng: np.random.Generator, mean_score: np.ndarray, draw_factor: float) -> np.ndarray:
    """Scores 1/0.5/0 with the given expected score and a draw rate D = draw_factor * 4 mu (1 - mu)
    (at most mu and 1 - mu times 2 for draw_factor <= 0.5), so the Bernoulli variance is off by 1 - draw_factor."""
    draw = draw_factor * 4.0 * mean_score * (1.0 - mean_score)
    win = mean_score - draw / 2.0
    u = rng.random(mean_score.shape)
    return np.where(u < win, 1.0, np.where(u < win + draw, 0.5, 0.0))


def round_robin(n_players: int, per_pair: int) -> tuple[np.ndarray, np.ndarray]:
    pairs = [(i, j) for i in range(n_players) for j in range(i + 1, n_players)]
    first = np.repeat([p[0] for p in pairs], per_pair)
    second = np.repeat([p[1] for p in pairs], per_pair)
    # Alternate who is listed first so the fit cannot lean on the order.
    flip = np.arange(first.size) % 2 == 1
    return np.where(flip, second, first), np.where(flip, first, second)


# ---------------------------------------------------------------------------- expected score


def test_expected_score_known_values() -> None:
    assert expected_score(0.0) == 0.5
    assert expected_score(400.0) == pytest.approx(10 / 11, rel=1e-12)
    assert expected_score(-400.0) == pytest.approx(1 / 11, rel=1e-12)
    assert expected_score(800.0) == pytest.approx(100 / 101, rel=1e-12)
    assert expected_score(np.array([-1e6, 1e6])).tolist() == [0.0, 1.0]  # no overflow


def test_elo_from_score_round_trip_and_limits() -> None:
    diffs = np.linspace(-1500, 1500, 61)
    assert np.allclose(elo_from_score(expected_score(diffs)), diffs, atol=1e-8)
    assert elo_from_score(10 / 11) == pytest.approx(400.0)
    assert elo_from_score(0.75) == pytest.approx(400 * math.log10(3))
    assert elo_from_score(1.0) == math.inf
    assert elo_from_score(0.0) == -math.inf
    with pytest.raises(ValueError):
        elo_from_score(1.2)


# ---------------------------------------------------------------------------- one player


def test_fit_player_one_opponent_matches_closed_form() -> None:
    scores = [1] * 13 + [0.5] * 9 + [0] * 8
    est = fit_player([1800.0] * len(scores), scores)
    assert est.edge is None
    assert est.elo == pytest.approx(1800.0 + elo_from_score(np.mean(scores)), abs=1e-9)
    assert est.low < est.elo < est.high


def test_fit_player_interval_is_wilson_without_draws() -> None:
    """Against one opponent with no draws the score interval is Wilson's interval mapped to Elo."""
    n, wins = 40, 29
    est = fit_player([1500.0] * n, [1.0] * wins + [0.0] * (n - wins))
    p = wins / n
    centre = (p + Z95**2 / (2 * n)) / (1 + Z95**2 / n)
    half = Z95 / (1 + Z95**2 / n) * math.sqrt(p * (1 - p) / n + Z95**2 / (4 * n * n))
    assert est.low == pytest.approx(1500 + elo_from_score(centre - half), abs=1e-6)
    assert est.high == pytest.approx(1500 + elo_from_score(centre + half), abs=1e-6)
    # Fisher standard error at the MLE: 1 / (C sqrt(n p (1 - p))), C = ln10 / 400.
    assert est.se == pytest.approx(400 / math.log(10) / math.sqrt(n * p * (1 - p)), rel=1e-9)


def test_fit_player_many_opponents_solves_score_equation() -> None:
    opp = np.array([1200.0, 1400, 1600, 1800] * 5)
    scores = np.array([1, 1, 0.5, 0] * 5, dtype=float)
    est = fit_player(opp, scores)
    assert np.sum(expected_score(est.elo - opp)) == pytest.approx(scores.sum(), abs=1e-8)


@pytest.mark.parametrize("games", [1, 3, 50])
def test_fit_player_edges_give_one_sided_finite_bounds(games: int) -> None:
    opp = [1500.0] * games
    up = fit_player(opp, [1.0] * games)
    down = fit_player(opp, [0.0] * games)
    assert up.edge == "above" and down.edge == "below"
    assert math.isfinite(up.elo) and up.elo == up.low and up.high == math.inf and up.se == math.inf
    assert math.isfinite(down.elo) and down.elo == down.high and down.low == -math.inf
    # One-sided 95% Wilson bound for n out of n: p >= n / (n + z^2), z the one-sided quantile.
    z1 = stats.norm.ppf(0.95)
    assert up.elo == pytest.approx(1500 + elo_from_score(games / (games + z1**2)), abs=1e-6)
    assert down.elo == pytest.approx(1500 - (up.elo - 1500), abs=1e-6)  # symmetric


def test_fit_player_edge_with_opponent_se_moves_bound_outward() -> None:
    z1 = stats.norm.ppf(0.95)
    plain = fit_player([1500.0] * 8, [0.0] * 8)
    widened = fit_player([1500.0] * 8, [0.0] * 8, opponent_se=[40.0] * 8)
    assert widened.edge == "below" and widened.elo == pytest.approx(plain.elo + z1 * 40.0)
    mixed = fit_player([1200.0, 1500.0, 1800.0] * 3, [1.0] * 9, opponent_se=[30.0, 0.0, 30.0] * 3)
    assert mixed.edge == "above" and math.isfinite(mixed.low) and mixed.high == math.inf


def test_fit_player_edge_bound_grows_with_games() -> None:
    bounds = [fit_player([1500.0] * n, [1.0] * n).elo for n in (1, 4, 16, 64)]
    assert bounds == sorted(bounds) and bounds[-1] > 1500 + 400


def test_fit_player_single_draw_is_not_degenerate() -> None:
    est = fit_player([1500.0], [0.5])
    assert est.elo == pytest.approx(1500.0)
    assert est.high - est.low > 500  # one game says little; the dispersion shrinkage keeps it wide


def test_fit_player_opponent_se_adds_in_quadrature() -> None:
    scores = [1.0] * 12 + [0.0] * 8
    plain = fit_player([1600.0] * 20, scores)
    widened = fit_player([1600.0] * 20, scores, opponent_se=[50.0] * 20)
    # One opponent carries all the weight (w = 1), so var = se_fit^2 + se_opp^2.
    assert widened.se == pytest.approx(math.hypot(plain.se, 50.0), rel=1e-9)
    assert widened.elo == plain.elo
    assert widened.elo - widened.low == pytest.approx(math.hypot(plain.elo - plain.low, Z95 * 50.0))
    assert widened.high - widened.elo == pytest.approx(math.hypot(plain.high - plain.elo, Z95 * 50.0))


def test_fit_player_rejects_bad_input() -> None:
    with pytest.raises(ValueError):
        fit_player([], [])
    with pytest.raises(ValueError):
        fit_player([1500.0, 1600.0], [1.0])
    with pytest.raises(ValueError):
        fit_player([1500.0], [2.0])


def test_fit_player_interval_coverage() -> None:
    """400 seeded evaluations of a 1500 player against four rungs, 5 games each (20 games: small enough that a
    Wald interval would be visibly off) with half the Bernoulli variance removed by draws (draw_factor 0.5).

    Why the band 0.92-0.98 is meaningful: with 400 trials the coverage estimate has sd ~0.011, so a correct
    interval lands in the band with >99% probability, while an interval ignoring draws (true coverage ~0.99:
    z_eff = 1.96 / sqrt(0.5)) or one 25% too narrow (coverage ~0.86) falls outside it. The mean half-width
    is also checked against the spread of the estimates, so an interval cannot hit the band by being wide on
    some trials and empty on others."""
    rng = np.random.default_rng(20261101)
    opp = np.repeat([1300.0, 1450.0, 1600.0, 1750.0], 5)
    covered, halves, estimates = 0, [], []
    for _ in range(400):
        est = fit_player(opp, simulate_games(rng, expected_score(1500.0 - opp), 0.5))
        covered += est.low <= 1500.0 <= est.high
        if est.edge is None:
            halves.append((est.high - est.low) / 2)
            estimates.append(est.elo)
    coverage = covered / 400
    assert 0.92 <= coverage <= 0.98, coverage
    assert np.mean(halves) / Z95 == pytest.approx(np.std(estimates), rel=0.15)


# ---------------------------------------------------------------------------- against a calibrated ladder

LADDER = {"r0": 0.0, "r1": 150.0, "r2": 300.0, "r3": 450.0}
ORDER = ["r0", "r1", "r2", "r3"]
# A chain's covariance: r3 is the anchor (row and column 0), errors accumulate and correlate downward.
SIGMA = np.array([[3.0, 2.0, 1.0, 0.0], [2.0, 2.0, 1.0, 0.0], [1.0, 1.0, 1.0, 0.0], [0.0, 0.0, 0.0, 0.0]]) * 900.0


def _numeric_weights(opponents: list[str], scores: list[float], h: float = 1e-3) -> dict[str, float]:
    """d elo_hat / d r_k by central differences of fit_player (the interior MLE or the edge bound)."""
    out = {}
    for k in dict.fromkeys(opponents):
        ups = [LADDER[o] + (h if o == k else 0.0) for o in opponents]
        downs = [LADDER[o] - (h if o == k else 0.0) for o in opponents]
        out[k] = (fit_player(ups, scores).elo - fit_player(downs, scores).elo) / (2 * h)
    return out


def test_rung_weights_are_the_derivative_of_the_fit() -> None:
    opponents = ["r0"] * 6 + ["r1"] * 10 + ["r2"] * 4
    scores = [1.0] * 5 + [0.0] + [1.0] * 6 + [0.5] * 2 + [0.0] * 2 + [0.0] * 3 + [1.0]
    fit = fit_player([LADDER[o] for o in opponents], scores)
    weights = rung_weights(fit.elo, opponents, LADDER)
    assert sum(weights.values()) == pytest.approx(1.0)
    assert weights == pytest.approx(_numeric_weights(opponents, scores), abs=1e-6)
    # Equidistant rungs with equal games carry equal weight.
    assert rung_weights(75.0, ["r0", "r1"] * 3, LADDER) == pytest.approx({"r0": 0.5, "r1": 0.5})


@pytest.mark.parametrize("score", [0.0, 1.0])
def test_edge_weights_are_the_derivative_of_the_bound(score: float) -> None:
    opponents = ["r0"] * 4 + ["r1"] * 4 + ["r2"] * 4
    est = fit_on_ladder(opponents, [score] * 12, LADDER, SIGMA, ORDER)
    assert est.games.edge == ("above" if score else "below") and est.games.se == math.inf
    assert sum(est.weights.values()) == pytest.approx(1.0)
    assert est.weights == pytest.approx(_numeric_weights(opponents, [score] * 12), abs=1e-5)
    # The bounding side dominates: the top rung for a player who beat everyone, the bottom one otherwise.
    top = max(est.weights, key=est.weights.get)
    assert top == ("r2" if score else "r0")
    # The absolute bound moves outward by z1 * ladder_se.
    shift = stats.norm.ppf(0.95) * est.ladder_se
    if score:
        assert est.absolute.low == pytest.approx(est.games.low - shift) and est.absolute.high == math.inf
    else:
        assert est.absolute.high == pytest.approx(est.games.high + shift) and est.absolute.low == -math.inf


def test_ladder_variance_hand_computed() -> None:
    # w = (0.5, 0.5, 0, 0): 900 * (0.25 * 3 + 2 * 0.25 * 2 + 0.25 * 2) = 900 * 2.25.
    assert ladder_variance({"r0": 0.5, "r1": 0.5}, SIGMA, ORDER) == pytest.approx(2025.0)
    assert ladder_variance({"r3": 1.0}, SIGMA, ORDER) == 0.0  # the anchor carries no error
    with pytest.raises(ValueError, match="not in the covariance"):
        ladder_variance({"rX": 0.3}, SIGMA, ORDER)


def test_fit_on_ladder_games_and_absolute() -> None:
    opponents = ["r0", "r1", "r2"] * 8
    scores = [1.0, 0.5, 0.0, 1.0, 0.0, 0.0, 1.0, 1.0] * 3
    est = fit_on_ladder(opponents, scores, LADDER, SIGMA, ORDER)
    plain = fit_player([LADDER[o] for o in opponents], scores)
    assert est.games == plain
    assert est.ladder_se**2 == pytest.approx(ladder_variance(est.weights, SIGMA, ORDER))
    assert est.absolute.elo == plain.elo
    assert est.absolute.se == pytest.approx(math.hypot(plain.se, est.ladder_se))
    low_half = math.hypot(plain.elo - plain.low, Z95 * est.ladder_se)
    assert est.absolute.elo - est.absolute.low == pytest.approx(low_half)
    # With a diagonal covariance it is exactly fit_player with independent opponent errors.
    diag = np.diag(np.diag(SIGMA))
    se_opp = [math.sqrt(SIGMA[ORDER.index(o), ORDER.index(o)]) for o in opponents]
    indep = fit_player([LADDER[o] for o in opponents], scores, opponent_se=se_opp)
    got = fit_on_ladder(opponents, scores, LADDER, diag, ORDER).absolute
    assert (got.elo, got.se, got.low, got.high) == pytest.approx((indep.elo, indep.se, indep.low, indep.high))
    with pytest.raises(ValueError, match="no calibrated rating"):
        fit_on_ladder(["rX"], [1.0], LADDER, SIGMA, ORDER)


def test_rating_difference_cancels_shared_ladder_error() -> None:
    w = {"r0": 0.6, "r1": 0.4}
    same = rating_difference(100.0, 30.0, w, 40.0, 40.0, w, SIGMA, ORDER)
    assert same.diff == 60.0 and same.se == pytest.approx(50.0)  # ladder term cancels: sqrt(30^2 + 40^2)
    assert (same.low, same.high) == pytest.approx((60 - Z95 * 50, 60 + Z95 * 50))
    assert same.z == pytest.approx(1.2) and same.p_value == pytest.approx(2 * stats.norm.sf(1.2))
    assert same.mdd == pytest.approx((Z95 + stats.norm.ppf(0.8)) * 50.0)
    # Different weights: (w_a - w_b) = (1, -1, 0, 0) -> 900 * (3 - 4 + 2) = 900.
    apart = rating_difference(100.0, 30.0, {"r0": 1.0}, 40.0, 40.0, {"r1": 1.0}, SIGMA, ORDER)
    assert apart.se == pytest.approx(math.sqrt(30**2 + 40**2 + 900))
    edge = rating_difference(100.0, math.inf, {"r0": 1.0}, 40.0, 40.0, w, SIGMA, ORDER)
    assert edge.se == math.inf and edge.p_value == 1.0 and edge.mdd == math.inf


def test_min_detectable_difference_has_its_power() -> None:
    """A true difference of mdd is detected (|z| > 1.96) in 80% of seeded normal draws."""
    mdd = min_detectable_difference(10.0)
    assert mdd == pytest.approx(28.0158, abs=1e-3)
    rng = np.random.default_rng(1)
    detected = np.mean(np.abs(rng.normal(mdd, 10.0, 20000)) / 10.0 > Z95)
    assert detected == pytest.approx(0.8, abs=0.01)


@pytest.mark.parametrize(
    ("diff", "se", "verdict"),
    [(5.0, 10.0, "equivalent"), (-20.0, 10.0, "equivalent"), (20.0, 20.0, "inconclusive"),
     (40.0, 10.0, "different"), (0.0, 40.0, "inconclusive"), (80.0, 10.0, "different"),
     (-200.0, 60.0, "different")],
)
def test_equivalence_test_tost(diff: float, se: float, verdict: str) -> None:
    # Margin 50: equivalent iff diff +- 1.645 se inside (-50, 50); different iff |diff| > 1.96 se.
    assert equivalence_test(diff, se, 50.0) == verdict


# ---------------------------------------------------------------------------- joint fit


def test_fit_joint_two_players_matches_fit_player() -> None:
    scores = np.array([1, 0, 0.5, 1, 1, 0.5, 0, 1, 1, 0.5], dtype=float)
    first = np.zeros(scores.size, dtype=int)
    joint = fit_joint(first, first + 1, scores, n_players=2, anchor=1, anchor_elo=2000.0)
    single = fit_player([2000.0] * scores.size, scores)
    assert joint.ratings[1] == 2000.0 and joint.se[1] == 0.0
    assert joint.ratings[0] == pytest.approx(single.elo, abs=1e-6)
    assert joint.se[0] == pytest.approx(single.se, rel=1e-6)
    assert joint.games.tolist() == [10, 10]


def test_fit_joint_recovers_true_ratings() -> None:
    rng = np.random.default_rng(7)
    true = np.array([1350.0, 900, 1100, 1250, 1500, 1650, 1800, 2000])
    first, second = round_robin(true.size, 300)
    scores = simulate_games(rng, expected_score(true[first] - true[second]), 0.3)
    fit = fit_joint(first, second, scores, true.size, anchor=0, anchor_elo=1350.0)
    assert fit.ratings[0] == 1350.0
    err = fit.ratings - true
    assert np.all(np.abs(err[1:]) < 3.5 * fit.se[1:]), (err, fit.se)
    assert np.all(np.abs(err) < 30.0)
    assert np.all(fit.se[1:] < 20.0)
    assert fit.cov.shape == (8, 8) and np.all(fit.cov[0] == 0) and np.allclose(fit.cov, fit.cov.T)
    assert fit.games.tolist() == [2100] * 8


def test_fit_joint_chain_connected_only_through_others() -> None:
    """A ladder: each player meets only its neighbours; errors accumulate away from the anchor."""
    rng = np.random.default_rng(11)
    true = np.array([0.0, 200, 400, 600, 800])
    first = np.repeat(np.arange(4), 400)
    second = first + 1
    scores = simulate_games(rng, expected_score(true[first] - true[second]), 0.2)
    fit = fit_joint(first, second, scores, 5, anchor=0)
    assert np.all(np.abs(fit.ratings - true) < 4 * np.maximum(fit.se, 1e-9))
    assert np.all(np.diff(fit.se) > 0)


def test_fit_joint_interval_coverage() -> None:
    """200 seeded round robins of 6 players (ratings -300..320, anchor 0), 20 games per pair, draw_factor 0.5.

    1000 intervals (5 free players x 200) give a coverage estimate with sd ~0.007-0.01 (players of one
    tournament are correlated), so a correct 95% interval lands in 0.92-0.98 with near certainty, while a fit
    that ignored the draws' lower variance (~0.99) or reported standard errors 25% too small (~0.86) fails.
    The spread of the estimates must match the reported standard errors, player by player, within 20%."""
    rng = np.random.default_rng(3)
    true = np.array([0.0, -300, -120, 80, 200, 320])
    first, second = round_robin(true.size, 20)
    covered, errors, ses = 0, [], []
    for _ in range(200):
        scores = simulate_games(rng, expected_score(true[first] - true[second]), 0.5)
        fit = fit_joint(first, second, scores, true.size, anchor=0)
        covered += int(np.sum((fit.low[1:] <= true[1:]) & (true[1:] <= fit.high[1:])))
        errors.append(fit.ratings - true)
        ses.append(fit.se)
    coverage = covered / 1000
    assert 0.92 <= coverage <= 0.98, coverage
    ratio = np.std(errors, axis=0)[1:] / np.mean(ses, axis=0)[1:]
    assert np.all((ratio > 0.8) & (ratio < 1.2)), ratio


def test_fit_joint_separation_raises_naming_the_player() -> None:
    first = np.array([0, 0, 1, 1, 2, 2, 0, 1])
    second = np.array([1, 1, 2, 2, 0, 0, 2, 2])
    scores = np.array([1, 0.5, 1, 1, 0, 0, 1, 1], dtype=float)  # player 2 lost every game
    with pytest.raises(ValueError, match=r"separation.*\[0, 1\].*\[2\]"):
        fit_joint(first, second, scores, 3, anchor=0)
    # The anchor itself may be the unbeaten one: the others are then unbounded below.
    with pytest.raises(ValueError, match="separation"):
        fit_joint([0, 0, 1], [1, 2, 2], [1.0, 1.0, 0.5], 3, anchor=0)


def test_fit_joint_prior_handles_separation() -> None:
    first = np.array([0, 0, 1, 1, 2, 2, 0, 1])
    second = np.array([1, 1, 2, 2, 0, 0, 2, 2])
    scores = np.array([1, 0.5, 1, 1, 0, 0, 1, 1], dtype=float)
    fit = fit_joint(first, second, scores, 3, anchor=0, prior_sd=1000.0)
    assert np.all(np.isfinite(fit.ratings)) and np.all(np.isfinite(fit.se))
    assert fit.ratings[2] < fit.ratings[1] and fit.ratings[2] < -300


def test_fit_joint_weak_prior_barely_moves_a_regular_fit() -> None:
    rng = np.random.default_rng(5)
    true = np.array([0.0, 150, -100, 300])
    first, second = round_robin(4, 100)
    scores = simulate_games(rng, expected_score(true[first] - true[second]), 0.3)
    free = fit_joint(first, second, scores, 4, anchor=0)
    weak = fit_joint(first, second, scores, 4, anchor=0, prior_sd=1e5)
    assert np.allclose(free.ratings, weak.ratings, atol=1e-3)


def test_fit_joint_disconnected_player_raises() -> None:
    with pytest.raises(ValueError, match=r"players \[2, 3\] are not connected to the anchor"):
        fit_joint([0, 1, 2, 3], [1, 0, 3, 2], [1.0, 1.0, 0.5, 0.5], 4, anchor=0)
    with pytest.raises(ValueError, match=r"players \[2\] are not connected"):
        fit_joint([0, 1], [1, 0], [1.0, 1.0], 3, anchor=1, prior_sd=500.0)


def test_fit_joint_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="itself"):
        fit_joint([0, 1], [0, 0], [1.0, 0.0], 2, anchor=0)
    with pytest.raises(ValueError, match="indices"):
        fit_joint([0, 5], [1, 0], [1.0, 0.0], 2, anchor=0)
    with pytest.raises(ValueError, match="length"):
        fit_joint([0, 1], [1], [1.0], 2, anchor=0)


# ---------------------------------------------------------------------------- paired games


def test_pentanomial_hand_computed() -> None:
    pent = pentanomial([0, 0.5, 1, 1, 1.5, 2, 2, 1])
    assert pent.counts == (1, 1, 3, 1, 2)
    assert pent.score == pytest.approx(9 / 16)
    # Per-pair mean scores 0, .25, .5, .5, .75, 1, 1, .5: mean 0.5625, variance 27/256 = 0.10546875,
    # so the score interval is 0.5625 +- 1.959964 * sqrt(0.10546875 / 8) = [0.337455, 0.787545].
    half = Z95 * math.sqrt((27 / 256) / 8)
    assert pent.elo == pytest.approx(400 * math.log10(0.5625 / 0.4375))
    assert pent.low == pytest.approx(elo_from_score(0.5625 - half))
    assert pent.high == pytest.approx(elo_from_score(0.5625 + half))
    assert pent.low == pytest.approx(-117.198, abs=1e-3) and pent.high == pytest.approx(227.601, abs=1e-3)


def test_pentanomial_rejects_non_pair_scores() -> None:
    with pytest.raises(ValueError):
        pentanomial([0.25])
    with pytest.raises(ValueError):
        pentanomial([2.5])


def test_trinomial_hand_computed() -> None:
    # 8 wins, 6 draws, 6 losses: mean 0.55, variance (8 * 0.45^2 + 6 * 0.05^2 + 6 * 0.55^2) / 20 = 0.1725.
    elo, low, high = trinomial_interval([1] * 8 + [0.5] * 6 + [0] * 6)
    half = Z95 * math.sqrt(0.1725 / 20)
    assert elo == pytest.approx(elo_from_score(0.55))
    assert (low, high) == pytest.approx((elo_from_score(0.55 - half), elo_from_score(0.55 + half)))
    # Mean 0.7, variance 0.16 over 5 games: 0.7 + 1.96 * 0.179 passes 1, so the upper end is unbounded.
    elo, low, high = trinomial_interval([1, 1, 1, 0.5, 0])
    assert high == math.inf and low == pytest.approx(elo_from_score(0.7 - Z95 * math.sqrt(0.16 / 5)))


def test_pentanomial_vs_trinomial_on_correlated_pairs() -> None:
    """With a strong white advantage (win chance 0.8 as white, 0.2 as black) each game's mean depends on the
    colour; the trinomial interval counts that spread as noise (variance 0.25 per game instead of 0.16), while
    the pair, one game with each colour, cancels it: the pentanomial interval is narrower by about
    sqrt(0.16 / 0.25) = 0.8. When the opening decides both games of its pair (win chance 0.8 or 0.2 for both),
    the games correlate (rho = 0.09 / 0.25 = 0.36), the trinomial one ignores it and the pentanomial one is
    wider by about sqrt(1.36) = 1.17. On the same games the point estimates agree."""
    rng = np.random.default_rng(17)
    n_pairs = 2000

    # Colour effect: white wins with p 0.8, black with 0.2.
    as_white = (rng.random(n_pairs) < 0.8).astype(float)
    as_black = (rng.random(n_pairs) < 0.2).astype(float)
    pent = pentanomial(as_white + as_black)
    tri = trinomial_interval(np.concatenate([as_white, as_black]))
    assert pent.elo == pytest.approx(tri[0])
    assert (pent.high - pent.low) < 0.9 * (tri[2] - tri[1])

    # Positively correlated: the opening decides a 0.8 or 0.2 win chance for both games of its pair.
    p = np.where(rng.random(n_pairs) < 0.5, 0.8, 0.2)
    g1, g2 = (rng.random(n_pairs) < p).astype(float), (rng.random(n_pairs) < p).astype(float)
    pent = pentanomial(g1 + g2)
    tri = trinomial_interval(np.concatenate([g1, g2]))
    assert (pent.high - pent.low) > 1.1 * (tri[2] - tri[1])


def test_estimate_is_frozen() -> None:
    est = Estimate(elo=1.0, se=1.0, low=0.0, high=2.0, edge=None)
    with pytest.raises(AttributeError):
        est.elo = 2.0  # type: ignore[misc]


# ---------------------------------------------------------------------------- coverage on a noisy ladder


def _coverage_benchmark():  # noqa: ANN202 - a module loaded by path
    """benchmarks/elo_coverage.py (tests.conftest.load_benchmark), so test and table share code."""
    from tests.conftest import load_benchmark

    return load_benchmark("elo_coverage")


def test_intervals_cover_on_a_calibrated_ladder() -> None:
    """600 seeded ladders (15 rungs 120 apart, 100/40 calibration games per adjacent/next pair, Sigma from a
    joint fit; ratings drawn from N(true, Sigma)), two players each rated from 120 games: single ratings'
    intervals and differences cover the truth 93-97% (sd of the estimate ~0.006 and ~0.009).

    The controls show the test can fail: ignoring the ladder's error (~0.73), taking rung errors as independent
    (~0.87) and counting the shared error once per player in a difference (~0.98, intervals 1.3x as wide) all
    land outside the band."""
    bench = _coverage_benchmark()
    design = bench.Design(adjacent=100, next_adjacent=40, rounds=3, games_per_round=40)
    tallies = bench.simulate_coverage(600, seed=1, mode="drawn", design=design)
    cov = {row: t.coverage for row, t in tallies.items()}
    for row in ("single, games only, true ladder", "single, absolute (full Sigma), noisy ladder",
                "difference A-B, ladder error cancelled"):
        assert 0.93 <= cov[row] <= 0.97, (row, cov[row])
    assert cov["control: single, games only, noisy ladder"] < 0.85
    assert cov["control: single, absolute with diag Sigma"] < 0.92
    naive = tallies["control: difference, ladder error not cancelled"]
    assert naive.coverage > 0.97
    assert naive.mean_half > 1.2 * tallies["difference A-B, ladder error cancelled"].mean_half
