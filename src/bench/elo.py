"""Pure rating maths: logistic Elo, maximum-likelihood fits with intervals, pentanomial statistics.

No I/O; numpy and scipy only. Scores are per game: 1 win, 0.5 draw, 0 loss, and draws count as half a win
and half a loss in the likelihood (as Ordo does), so every fit here is a Bernoulli quasi-likelihood.

Draws make a game's score less variable than a Bernoulli trial with the same mean: with win, draw and loss
probabilities W, D, L and mean mu = W + D/2, Var = mu(1 - mu) - D/4. The fits therefore scale the Bernoulli
variance by a dispersion factor phi <= 1 estimated from the residuals (McCullagh & Nelder 1989,
"Generalized Linear Models", sec. 9.2, quasi-likelihood with a dispersion parameter), so intervals are
neither too wide when draws are common nor too narrow when they are rare.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import optimize, sparse, special
from scipy.sparse import csgraph

# Slope of the logistic Elo curve in natural units: p = expit(C * diff) (Elo 1978, 400-point logistic scale).
C = math.log(10.0) / 400.0
# Pseudo-games that pull the dispersion estimate toward its Bernoulli bound 1, so a handful of games (say
# two draws) cannot collapse an interval to nothing; negligible once there are hundreds of games.
_DISPERSION_PRIOR_GAMES = 4.0


def expected_score(diff: float | np.ndarray) -> float | np.ndarray:
    """Logistic Elo, 400 scale: 1 / (1 + 10**(-diff/400)) (Elo 1978; the FIDE/USCF logistic form).

    Computed as expit(diff * ln10/400) so huge differences neither overflow nor lose precision.
    """
    out = special.expit(np.asarray(diff, dtype=float) * C)
    return float(out) if np.ndim(out) == 0 else out


def elo_from_score(score: float | np.ndarray) -> float | np.ndarray:
    """Inverse of `expected_score`: 400 * log10(s / (1 - s)); +inf at 1 and -inf at 0."""
    s = np.asarray(score, dtype=float)
    if np.any((s < 0) | (s > 1)):
        raise ValueError(f"a score must lie in [0, 1], got {score!r}")
    with np.errstate(divide="ignore"):
        out = special.logit(s) / C
    return float(out) if np.ndim(out) == 0 else out


def _two_sided_z(level: float) -> float:
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must lie in (0, 1), got {level}")
    return float(special.ndtri(0.5 + level / 2.0))


def _dispersion(sq_resid: float, bernoulli_var: float, games: float, params: int) -> float:
    """Quasi-likelihood dispersion phi = Pearson X^2 / (n - k) (McCullagh & Nelder 1989, eq. 9.4), as a ratio
    estimator, shrunk toward 1 by a few pseudo-games and capped at 1 (draws can only lower the variance)."""
    if bernoulli_var <= 0.0:
        return 1.0
    ratio = sq_resid / bernoulli_var
    phi = (games * ratio + _DISPERSION_PRIOR_GAMES) / (games - params + _DISPERSION_PRIOR_GAMES)
    return float(min(1.0, max(phi, 0.0)))


# --------------------------------------------------------------------------------------------------------
# One player against opponents of known rating.


@dataclass(frozen=True)
class Estimate:
    """A rating with its uncertainty."""

    elo: float
    """Point estimate (maximum likelihood); for an edge case, the one-sided bound."""
    se: float
    """Standard error from the Fisher information (times the dispersion), opponents' uncertainty included;
    inf at an edge, where the likelihood has no maximum."""
    low: float
    """Lower end of the interval (two-sided at `level`; -inf for edge "below")."""
    high: float
    """Upper end of the interval (two-sided at `level`; +inf for edge "above")."""
    edge: str | None
    """None; "above" (won every game: `elo` = `low` is a one-sided lower bound at `level`, `high` = inf);
    "below" (lost every game: `elo` = `high` is a one-sided upper bound, `low` = -inf)."""


def _score_stat(x: float, ratings: np.ndarray, counts: np.ndarray, total: float, phi: float) -> float:
    """Rao's score statistic for H0: rating = x, U / sqrt(Var U), in score units (Rao 1948)."""
    p = special.expit(C * (x - ratings))
    var = phi * float(np.sum(counts * p * (1.0 - p)))
    u = total - float(np.sum(counts * p))
    if var <= 0.0:
        return math.copysign(math.inf, u) if u != 0.0 else 0.0
    return u / math.sqrt(var)


def _root_beyond(f, start: float, direction: float) -> float:
    """Root of a function that changes sign between `start` and some point in `direction`."""
    step = 400.0
    lo, f_lo = start, f(start)
    while True:
        hi = start + direction * step
        f_hi = f(hi)
        if f_lo == 0.0:
            return lo
        if np.sign(f_hi) != np.sign(f_lo):
            a, b = sorted((lo, hi))
            return float(optimize.brentq(f, a, b, xtol=1e-9))
        lo, f_lo = hi, f_hi
        step *= 2.0
        if step > 1e7:
            raise ArithmeticError("no root within 1e7 Elo; the data are degenerate")


def fit_player(
    opponent_ratings: Sequence[float],
    scores: Sequence[float],
    opponent_se: Sequence[float] | None = None,
    level: float = 0.95,
) -> Estimate:
    """Maximum-likelihood rating of one player from games against opponents of known rating.

    `scores` holds one entry per game (1 / 0.5 / 0, draws as half points as Ordo does); `opponent_ratings`
    the rating of that game's opponent. The MLE solves sum_i E(x - r_i) = sum_i s_i (the logistic score
    equation; Elo 1978 "performance rating").

    Interval: Rao's score interval, {x : |U(x)| <= z sqrt(phi Var U(x))} with U(x) = sum_i (s_i - E(x - r_i)).
    Against one opponent without draws it is exactly Wilson's interval for a proportion, which keeps near
    nominal coverage for small samples and extreme scores, where the Wald interval (x_hat +- z se) does not
    (Brown, Cai & DasGupta 2001, "Interval Estimation for a Binomial Proportion"); it is asymmetric on the Elo
    scale as it should be, and it stays finite at perfect scores, which gives the edge bounds. phi is the
    draw dispersion (module docstring).

    Opponents' uncertainty: x_hat moves with each opponent rating by w_k = I_k / I (that opponent's share of
    the Fisher information, from implicit differentiation of the score equation; the w_k sum to 1), so the
    delta method adds var_opp = sum_k w_k^2 se_k^2 (opponents' errors taken as independent). Each side of the
    interval is widened in quadrature, half-width' = sqrt(half-width^2 + z^2 var_opp); an edge bound moves
    outward by z sqrt(var_opp).

    Perfect and zero scores have no finite MLE: the result is an edge estimate with the one-sided bound at
    `level` (the x where the score statistic equals the one-sided quantile).
    """
    ratings = np.asarray(opponent_ratings, dtype=float).ravel()
    s = np.asarray(scores, dtype=float).ravel()
    if ratings.size == 0:
        raise ValueError("fit_player needs at least one game")
    if ratings.shape != s.shape:
        raise ValueError(f"{ratings.size} opponent ratings but {s.size} scores; give one of each per game")
    if np.any((s < 0) | (s > 1)) or not np.all(np.isfinite(ratings)):
        raise ValueError("scores must lie in [0, 1] and opponent ratings must be finite")
    se_opp = np.zeros_like(ratings) if opponent_se is None else np.asarray(opponent_se, dtype=float).ravel()
    if se_opp.shape != ratings.shape or np.any(se_opp < 0) or not np.all(np.isfinite(se_opp)):
        raise ValueError("opponent_se must give one finite, non-negative standard error per game")

    # Aggregate games by opponent (rating, se): the likelihood only depends on counts and score sums.
    keys, inverse = np.unique(np.stack([ratings, se_opp], axis=1), axis=0, return_inverse=True)
    inverse = inverse.ravel()
    opp_r, opp_se = keys[:, 0], keys[:, 1]
    counts = np.bincount(inverse, minlength=len(keys)).astype(float)
    n, total = float(s.size), float(s.sum())

    def opponent_var(x: float) -> float:
        p = special.expit(C * (x - opp_r))
        info = counts * p * (1.0 - p)
        w = info / info.sum() if info.sum() > 0 else counts / counts.sum()
        return float(np.sum(w**2 * opp_se**2))

    if total >= n or total <= 0.0:
        edge = "above" if total >= n else "below"
        z1 = float(special.ndtri(level))
        direction = 1.0 if edge == "above" else -1.0
        f = lambda x: _score_stat(x, opp_r, counts, total, 1.0) - direction * z1  # noqa: E731
        # The statistic falls with x (from +inf to 0 for "above", from 0 to -inf for "below"), so its single
        # crossing of the one-sided quantile lies above the start if f is still positive there, else below.
        start = float(np.mean(ratings))
        bound = _root_beyond(f, start, 1.0 if f(start) > 0 else -1.0)
        bound -= direction * z1 * math.sqrt(opponent_var(bound))
        if edge == "above":
            return Estimate(elo=bound, se=math.inf, low=bound, high=math.inf, edge=edge)
        return Estimate(elo=bound, se=math.inf, low=-math.inf, high=bound, edge=edge)

    if len(keys) == 1:  # one opponent: closed form
        x_hat = float(opp_r[0] + elo_from_score(total / n))
    else:
        g = lambda x: float(np.sum(counts * special.expit(C * (x - opp_r)))) - total  # noqa: E731
        x_hat = _root_beyond(g, float(np.mean(ratings)), 1.0 if g(float(np.mean(ratings))) < 0 else -1.0)

    p_hat = special.expit(C * (x_hat - ratings))
    bern = float(np.sum(p_hat * (1.0 - p_hat)))
    phi = _dispersion(float(np.sum((s - p_hat) ** 2)), bern, n, 1)
    var_opp = opponent_var(x_hat)
    se = math.sqrt(phi / (C * C * bern) + var_opp)

    z = _two_sided_z(level)
    low = _root_beyond(lambda x: _score_stat(x, opp_r, counts, total, phi) - z, x_hat, -1.0)
    high = _root_beyond(lambda x: _score_stat(x, opp_r, counts, total, phi) + z, x_hat, 1.0)
    extra = z * z * var_opp
    low = x_hat - math.sqrt((x_hat - low) ** 2 + extra)
    high = x_hat + math.sqrt((high - x_hat) ** 2 + extra)
    return Estimate(elo=x_hat, se=se, low=low, high=high, edge=None)


# --------------------------------------------------------------------------------------------------------
# One player against a calibrated ladder whose ratings share errors (the calibration's covariance).


@dataclass(frozen=True)
class LadderEstimate:
    """A rating against a calibrated ladder, with the two intervals that answer different questions."""

    games: Estimate
    """The rating given the ladder: game noise only, rung ratings taken as exact. Answers "where does this
    player sit on this ladder?", and is the part two players rated on the same ladder do not share."""
    absolute: Estimate
    """Game noise plus the ladder's error relative to its anchor, w^T Sigma w with the full covariance.
    Answers "what is this player's rating on the anchor's (UCI_Elo) scale?"."""
    weights: dict[str, float]
    """d elo_hat / d r_k per rung k played (implicit-function derivative of the score equation); they sum to
    1, since moving every rung by d moves the fit by d."""
    ladder_se: float
    """sqrt(w^T Sigma w): the standard error the ladder's calibration adds to `elo`."""


def _ladder_columns(
    opponents: Sequence[str], ratings: Mapping[str, float]
) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Rung names in order of first appearance, their ratings, and games per rung."""
    names = list(dict.fromkeys(opponents))
    missing = [n for n in names if n not in ratings]
    if missing:
        raise ValueError(f"rungs {missing} have no calibrated rating; the ladder knows {sorted(ratings)}")
    counts = np.array([sum(1 for o in opponents if o == n) for n in names], dtype=float)
    return names, np.array([float(ratings[n]) for n in names]), counts


def rung_weights(elo: float, opponents: Sequence[str], ratings: Mapping[str, float]) -> dict[str, float]:
    """d elo_hat / d r_k for an interior fit: w_k = sum_{games vs k} p(1-p) / sum_{all games} p(1-p).

    From the implicit-function theorem on the score equation U(x, r) = sum_i (s_i - E(x - r_i)) = 0:
    dx/dr_k = -(dU/dr_k) / (dU/dx) = n_k p_k (1 - p_k) / sum_j n_j p_j (1 - p_j), p_k = E(x - r_k), each rung's
    share of the Fisher information (delta method, e.g. Casella & Berger 2002, sec. 5.5.4). The weights sum
    to 1; rungs not played have weight 0 and are left out.
    """
    if not opponents:
        raise ValueError("rung_weights needs at least one game")
    names, r, counts = _ladder_columns(opponents, ratings)
    p = special.expit(C * (float(elo) - r))
    info = counts * p * (1.0 - p)
    if not info.sum() > 0.0:  # so far from every rung that p(1-p) underflows: the nearest rung carries it
        info = (np.abs(float(elo) - r) == np.min(np.abs(float(elo) - r))).astype(float)
    return {n: float(v) for n, v in zip(names, info / info.sum())}


def _edge_weights(
    bound: float, names: list[str], r: np.ndarray, counts: np.ndarray, total: float
) -> dict[str, float]:
    """d bound / d r_k for an edge bound, the root of f(x, r) = U / sqrt(V) -/+ z (see `fit_player`).

    U = total - sum_k n_k p_k and V = sum_k n_k p_k q_k; implicit differentiation gives
    w_k proportional to n_k p_k q_k [1 + U (1 - 2 p_k) / (2 V)], normalised to sum 1 (a common shift of all
    rungs shifts the bound by the same amount). With one rung this is weight 1 on that (bounding) rung.
    """
    p = special.expit(C * (bound - r))
    pq = counts * p * (1.0 - p)
    u, v = total - float(np.sum(counts * p)), float(pq.sum())
    a = pq * (1.0 + u * (1.0 - 2.0 * p) / (2.0 * v)) if v > 0 else np.zeros_like(pq)
    if not abs(a.sum()) > 1e-300:
        a = (np.abs(bound - r) == np.min(np.abs(bound - r))).astype(float)
    return {n: float(w) for n, w in zip(names, a / a.sum())}


def _weight_vector(weights: Mapping[str, float], order: Sequence[str], n: int) -> np.ndarray:
    index = {name: i for i, name in enumerate(order)}
    if len(index) != n:
        raise ValueError(f"covariance is {n}x{n} but its order names {len(index)} distinct rungs")
    w = np.zeros(n)
    for name, value in weights.items():
        if name not in index:
            if value == 0.0:
                continue
            raise ValueError(f"rung {name!r} is not in the covariance's order {list(order)}")
        w[index[name]] += float(value)
    return w


def ladder_variance(weights: Mapping[str, float], cov: np.ndarray, order: Sequence[str]) -> float:
    """w^T Sigma w: the variance a fit inherits from the ladder's calibration (delta method).

    `cov` is the joint fit's covariance of rung ratings (rows and columns in `order`; the anchor's are zero),
    so correlated rung errors (a chain of rungs shares every link below the anchor) count in full.
    """
    sigma = np.asarray(cov, dtype=float)
    if sigma.ndim != 2 or sigma.shape[0] != sigma.shape[1]:
        raise ValueError(f"cov must be square, got shape {sigma.shape}")
    w = _weight_vector(weights, order, sigma.shape[0])
    return float(max(w @ sigma @ w, 0.0))


def _widen(est: Estimate, extra_var: float, level: float) -> Estimate:
    """Add a variance independent of the games: in quadrature to each side of an interior interval (as
    `fit_player` does for opponent errors), outward by z1 sqrt(extra_var) for an edge's one-sided bound."""
    if est.edge is not None:
        shift = float(special.ndtri(level)) * math.sqrt(extra_var)
        if est.edge == "above":
            return Estimate(elo=est.elo - shift, se=math.inf, low=est.low - shift, high=math.inf, edge=est.edge)
        return Estimate(elo=est.elo + shift, se=math.inf, low=-math.inf, high=est.high + shift, edge=est.edge)
    extra = _two_sided_z(level) ** 2 * extra_var
    return Estimate(
        elo=est.elo,
        se=math.sqrt(est.se**2 + extra_var),
        low=est.elo - math.sqrt((est.elo - est.low) ** 2 + extra),
        high=est.elo + math.sqrt((est.high - est.elo) ** 2 + extra),
        edge=None,
    )


def fit_on_ladder(
    opponents: Sequence[str],
    scores: Sequence[float],
    ratings: Mapping[str, float],
    cov: np.ndarray,
    order: Sequence[str],
    level: float = 0.95,
) -> LadderEstimate:
    """Rate one player from its games against named rungs of a calibrated ladder.

    `games`: `fit_player` with the rung ratings taken as exact (Rao score interval, draw dispersion).
    `absolute`: the same fit with the ladder's error added by the delta method, Var = se_games^2 + w^T Sigma w,
    Sigma the calibration's full covariance (correlated rung errors included; `fit_player`'s opponent_se
    treats them as independent) and w = `rung_weights` at the fit. At an edge (every game won or lost) the
    weights are the derivative of the one-sided bound (`_edge_weights`), and the bound moves outward by
    z1 sqrt(w^T Sigma w).
    """
    opps = list(opponents)
    s = np.asarray(scores, dtype=float).ravel()
    if len(opps) != s.size:
        raise ValueError(f"{len(opps)} opponents but {s.size} scores; give one of each per game")
    names, r, counts = _ladder_columns(opps, ratings)
    games = fit_player([float(ratings[o]) for o in opps], s, level=level)
    if games.edge is None:
        weights = rung_weights(games.elo, opps, ratings)
    else:
        weights = _edge_weights(games.elo, names, r, counts, float(s.sum()))
    var = ladder_variance(weights, cov, order)
    absolute = _widen(games, var, level)
    return LadderEstimate(games=games, absolute=absolute, weights=weights, ladder_se=math.sqrt(var))


# --------------------------------------------------------------------------------------------------------
# Two players on the same ladder: differences, power, equivalence.


@dataclass(frozen=True)
class Difference:
    """elo_a - elo_b for two players rated on the same calibrated ladder, with its test."""

    diff: float
    """elo_a - elo_b."""
    se: float
    """sqrt(se_games_a^2 + se_games_b^2 + (w_a - w_b)^T Sigma (w_a - w_b)); inf if either fit is an edge."""
    low: float
    """Lower end of the Wald interval diff - z se at `level`."""
    high: float
    """Upper end of the Wald interval diff + z se at `level`."""
    z: float
    """diff / se (0 when se is infinite)."""
    p_value: float
    """Two-sided p-value of H0: no difference, 2 (1 - Phi(|z|))."""
    mdd: float
    """Smallest true difference this se detects with the requested power in a two-sided test at `level`."""


def min_detectable_difference(se: float, level: float = 0.95, power: float = 0.8) -> float:
    """(z_{1-alpha/2} + z_power) * se: the smallest true difference a two-sided z-test at `level` detects with
    probability `power` (normal approximation, e.g. Chow, Shao & Wang 2008, "Sample Size Calculations in
    Clinical Research", sec. 3.2.1); 2.80 se at 95% and 80% power."""
    if not 0.0 < power < 1.0:
        raise ValueError(f"power must lie in (0, 1), got {power}")
    return (_two_sided_z(level) + float(special.ndtri(power))) * float(se)


def wilson(successes: float, n: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson score interval of a binomial proportion (Wilson 1927); (0, 1) when there are no trials."""
    if n <= 0:
        return (0.0, 1.0)
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (max(0.0, centre - half), min(1.0, centre + half))


def sign_test(gains: int, losses: int) -> float:
    """One-sided exact sign test: P(X >= gains) for X ~ Binomial(gains + losses, 1/2) (McNemar's exact test on
    paired successes: `gains` items solved only after, `losses` only before)."""
    n = gains + losses
    if n == 0:
        return 1.0
    return float(sum(math.comb(n, k) for k in range(gains, n + 1)) / 2**n)


def rating_difference(
    elo_a: float,
    se_games_a: float,
    weights_a: Mapping[str, float],
    elo_b: float,
    se_games_b: float,
    weights_b: Mapping[str, float],
    cov: np.ndarray,
    order: Sequence[str],
    level: float = 0.95,
    power: float = 0.8,
) -> Difference:
    """Difference of two ratings fitted against the same calibrated ladder, shared ladder error cancelled.

    Each fit moves with the rung ratings r as x_hat = x_hat(r) with gradient w (`rung_weights`), so by the
    delta method Var(x_a - x_b) = se_games_a^2 + se_games_b^2 + (w_a - w_b)^T Sigma (w_a - w_b): the two
    players' games are independent, and the part of the ladder's error both fits inherit alike (an error in
    every rung below the anchor, or in a rung both played with the same weight) cancels. This equals the
    linearised joint fit of calibration and evaluation games with the evaluation players as extra members of
    the pool (as Ordo rates a pool), the calibration's information being unaffected by the two players.
    Interval and test are Wald (z = diff / se), two-sided at `level`.
    """
    var_ladder = ladder_variance(
        {k: weights_a.get(k, 0.0) - weights_b.get(k, 0.0) for k in set(weights_a) | set(weights_b)}, cov, order
    )
    diff = float(elo_a) - float(elo_b)
    se = math.sqrt(float(se_games_a) ** 2 + float(se_games_b) ** 2 + var_ladder)
    if not math.isfinite(se) or not math.isfinite(diff):
        return Difference(diff=diff, se=math.inf, low=-math.inf, high=math.inf, z=0.0, p_value=1.0, mdd=math.inf)
    half = _two_sided_z(level) * se
    z = diff / se if se > 0 else math.copysign(math.inf, diff) if diff else 0.0
    return Difference(
        diff=diff,
        se=se,
        low=diff - half,
        high=diff + half,
        z=z,
        p_value=float(2.0 * special.ndtr(-abs(z))),
        mdd=min_detectable_difference(se, level, power),
    )


def equivalence_test(diff: float, se: float, margin: float, level: float = 0.95) -> str:
    """Two one-sided tests (Schuirmann 1987, J. Pharmacokin. Biopharm. 15(6)) for |true diff| < `margin`.

    "equivalent": both H0: diff <= -margin and H0: diff >= margin are rejected at alpha = 1 - level, i.e.
    the (1 - 2 alpha) interval diff +- z_{1-alpha} se lies inside (-margin, margin);
    "different": not equivalent, and the two-sided `level` interval excludes 0;
    "inconclusive": neither (the data cannot tell, typically because se is large next to the margin).
    """
    if not margin > 0:
        raise ValueError(f"margin must be positive, got {margin}")
    if not math.isfinite(se) or not math.isfinite(diff):
        return "inconclusive"
    one_sided = float(special.ndtri(level)) * se
    if -margin < diff - one_sided and diff + one_sided < margin:
        return "equivalent"
    if abs(diff) > _two_sided_z(level) * se:
        return "different"
    return "inconclusive"


# --------------------------------------------------------------------------------------------------------
# All players jointly.


@dataclass(frozen=True, eq=False)
class JointFit:
    """Ratings of all players fitted together, one of them anchored."""

    ratings: np.ndarray
    """One rating per player; the anchor's is `anchor_elo` exactly."""
    se: np.ndarray
    """Standard errors relative to the anchor (the anchor's is 0)."""
    low: np.ndarray
    """Lower ends of the Wald intervals at `level`."""
    high: np.ndarray
    """Upper ends of the Wald intervals at `level`."""
    cov: np.ndarray
    """Covariance of the ratings (anchor row and column zero)."""
    games: np.ndarray
    """Games played per player."""


def _aggregate_pairs(
    first: np.ndarray, second: np.ndarray, score_first: np.ndarray, n_players: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per unordered pair (lo < hi): games, lo's score sum, and lo's sum of squared scores."""
    swap = first > second
    lo = np.where(swap, second, first)
    hi = np.where(swap, first, second)
    s_lo = np.where(swap, 1.0 - score_first, score_first)
    key = lo * n_players + hi
    size = n_players * n_players
    n = np.bincount(key, minlength=size)
    keep = np.flatnonzero(n)
    n_games = n[keep].astype(float)
    score = np.bincount(key, weights=s_lo, minlength=size)[keep]
    sq = np.bincount(key, weights=s_lo * s_lo, minlength=size)[keep]
    return keep // n_players, keep % n_players, n_games, score, sq


def _check_identifiable(
    lo: np.ndarray, hi: np.ndarray, n: np.ndarray, score: np.ndarray, n_players: int, anchor: int,
    prior: bool,
) -> None:
    """Raise ValueError for players unconnected to the anchor, or (without a prior) for a separation.

    The MLE exists iff the directed graph "i scored against j" is strongly connected (Ford 1957, "Solution of
    a ranking problem from binary comparisons", Amer. Math. Monthly 64(8)); otherwise some group won or lost
    every game against the rest and its ratings run off to infinity.
    """
    undirected = sparse.coo_matrix((np.ones_like(n), (lo, hi)), shape=(n_players, n_players))
    _, labels = csgraph.connected_components(undirected, directed=False)
    lost = np.flatnonzero(labels != labels[anchor])
    if lost.size:
        raise ValueError(
            f"players {lost.tolist()} are not connected to the anchor (player {anchor}) by any chain of games; "
            "play games linking them or fit them separately"
        )
    if prior:
        return
    scored_lo, scored_hi = score > 0, score < n  # lo scored against hi; hi scored against lo
    src = np.concatenate([lo[scored_lo], hi[scored_hi]])
    dst = np.concatenate([hi[scored_lo], lo[scored_hi]])
    directed = sparse.coo_matrix((np.ones(src.size), (src, dst)), shape=(n_players, n_players))
    n_comp, comp = csgraph.connected_components(directed, directed=True, connection="strong")
    if n_comp == 1:
        return
    cross = comp[src] != comp[dst]
    has_in = np.zeros(n_comp, bool)
    has_out = np.zeros(n_comp, bool)
    has_in[comp[dst[cross]]] = True
    has_out[comp[src[cross]]] = True
    top = np.flatnonzero(np.isin(comp, np.flatnonzero(~has_in))).tolist()
    bottom = np.flatnonzero(np.isin(comp, np.flatnonzero(~has_out))).tolist()
    raise ValueError(
        f"separation: players {top} won every game against the others they met and players {bottom} lost "
        "every such game, so their ratings are unbounded; play more games or pass prior_sd for a weak prior"
    )


def fit_joint(
    first: Sequence[int],
    second: Sequence[int],
    score_first: Sequence[float],
    n_players: int,
    anchor: int,
    anchor_elo: float = 0.0,
    prior_sd: float | None = None,
    level: float = 0.95,
) -> JointFit:
    """All players jointly by maximum likelihood: Bradley-Terry on the Elo scale (Bradley & Terry 1952; draws
    as half points as Ordo does), P(i beats j) = E(R_i - R_j), with R_anchor = anchor_elo fixed.

    Games are first aggregated by unordered pair, so the cost is O(games) once plus Newton steps on a
    (players x players) system: the log-likelihood is concave with gradient C * sum_j (S_ij - n_ij p_ij) and
    Hessian -C^2 L, L the graph Laplacian weighted by n_ij p_ij (1 - p_ij); backtracking keeps every step uphill.

    Players connected only through others are fine; a player not connected to the anchor raises ValueError
    (no game data can place it). A separation (a group that won, or lost, every game against the rest) has
    no finite MLE: without `prior_sd` it raises ValueError naming the players; with it, every non-anchor
    rating gets an independent N(anchor_elo, prior_sd^2) prior and the fit is the posterior mode.

    Covariance: phi times the inverse of the negative Hessian (observed information, with the prior's
    precision when given), phi the draw dispersion (module docstring); intervals are Wald, R +- z se.
    """
    f = np.asarray(first, dtype=np.int64).ravel()
    g = np.asarray(second, dtype=np.int64).ravel()
    s = np.asarray(score_first, dtype=float).ravel()
    if not (f.shape == g.shape == s.shape):
        raise ValueError(f"first, second and score_first differ in length ({f.size}, {g.size}, {s.size})")
    if n_players < 2 or not 0 <= anchor < n_players:
        raise ValueError(f"need n_players >= 2 and 0 <= anchor < n_players, got {n_players}, {anchor}")
    if f.size and (min(f.min(), g.min()) < 0 or max(f.max(), g.max()) >= n_players):
        raise ValueError(f"player indices must lie in [0, {n_players})")
    if np.any(f == g):
        raise ValueError(f"game {int(np.flatnonzero(f == g)[0])} pairs a player with itself")
    if np.any((s < 0) | (s > 1)):
        raise ValueError("score_first must lie in [0, 1]")
    if prior_sd is not None and not prior_sd > 0:
        raise ValueError(f"prior_sd must be positive, got {prior_sd}")

    lo, hi, n, score, sq = _aggregate_pairs(f, g, s, n_players)
    _check_identifiable(lo, hi, n, score, n_players, anchor, prior_sd is not None)

    free = np.flatnonzero(np.arange(n_players) != anchor)
    prec = 0.0 if prior_sd is None else 1.0 / prior_sd**2

    def loglik(r: np.ndarray) -> float:
        d = C * (r[lo] - r[hi])
        ll = float(np.sum(score * special.log_expit(d) + (n - score) * special.log_expit(-d)))
        return ll - 0.5 * prec * float(np.sum((r[free] - anchor_elo) ** 2))

    def grad_hess(r: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        p = special.expit(C * (r[lo] - r[hi]))
        resid = C * (score - n * p)
        grad = np.bincount(lo, resid, n_players) - np.bincount(hi, resid, n_players)
        w = C * C * n * p * (1.0 - p)
        info = np.diag(np.bincount(lo, w, n_players) + np.bincount(hi, w, n_players))
        info[lo, hi] -= w  # pairs are unique, so plain fancy-index assignment is exact
        info[hi, lo] -= w
        grad[free] -= prec * (r[free] - anchor_elo)
        info[free, free] += prec
        return grad[free], info[np.ix_(free, free)]

    r = np.full(n_players, float(anchor_elo))
    ll = loglik(r)
    for _ in range(200):
        grad, info = grad_hess(r)
        step = np.linalg.solve(info, grad)
        t = 1.0
        while True:
            trial = r.copy()
            trial[free] += t * step
            ll_trial = loglik(trial)
            if ll_trial >= ll - 1e-12 * abs(ll) or t < 1e-8:
                break
            t *= 0.5
        r, ll = trial, ll_trial
        if np.max(np.abs(t * step)) < 1e-7:
            break
    else:
        raise ArithmeticError("fit_joint: Newton did not converge in 200 steps")

    _, info = grad_hess(r)
    p = special.expit(C * (r[lo] - r[hi]))
    sq_resid = float(np.sum(sq - 2.0 * p * score + n * p * p))
    phi = _dispersion(sq_resid, float(np.sum(n * p * (1.0 - p))), float(n.sum()), free.size)
    cov = np.zeros((n_players, n_players))
    cov[np.ix_(free, free)] = phi * np.linalg.inv(info)
    se = np.sqrt(np.clip(np.diag(cov), 0.0, None))
    z = _two_sided_z(level)
    games = (np.bincount(f, minlength=n_players) + np.bincount(g, minlength=n_players)).astype(np.int64)
    return JointFit(ratings=r, se=se, low=r - z * se, high=r + z * se, cov=cov, games=games)


# --------------------------------------------------------------------------------------------------------
# Paired games.


@dataclass(frozen=True)
class Pentanomial:
    """Statistics of game pairs (same opening, colours swapped), as fishtest and fastchess report them."""

    counts: tuple[int, int, int, int, int]
    """Pairs scoring 0, 0.5, 1, 1.5, 2."""
    score: float
    """Mean score per game."""
    elo: float
    """Elo of the mean score."""
    low: float
    """Lower end of the interval from the pentanomial variance."""
    high: float
    """Upper end of the interval from the pentanomial variance."""


def _interval_of_mean(values: np.ndarray, probs: np.ndarray, n: float, z: float) -> tuple[float, float, float]:
    """Elo of a mean score and of mean +- z sqrt(var / n), var the sample variance of the units' scores
    (fishtest server/fishtest/stats/stat_util.py get_elo; fastchess elo_pentanomial.cpp)."""
    mu = float(np.sum(probs * values))
    var = float(np.sum(probs * (values - mu) ** 2))
    half = z * math.sqrt(var / n)
    lo_s, hi_s = min(max(mu - half, 0.0), 1.0), min(max(mu + half, 0.0), 1.0)
    return float(elo_from_score(mu)), float(elo_from_score(lo_s)), float(elo_from_score(hi_s))


def pentanomial(pair_scores: Sequence[float], level: float = 0.95) -> Pentanomial:
    """Pentanomial statistics of paired games: the unit is the pair, so the correlation between the two games
    of an opening (both colours) enters the variance instead of being ignored."""
    ps = np.asarray(pair_scores, dtype=float).ravel()
    if ps.size == 0:
        raise ValueError("pentanomial needs at least one game pair")
    idx = np.rint(ps * 2.0)
    if np.any(np.abs(ps * 2.0 - idx) > 1e-9) or np.any((idx < 0) | (idx > 4)):
        raise ValueError("a pair score must be one of 0, 0.5, 1, 1.5, 2")
    counts = np.bincount(idx.astype(np.int64), minlength=5)
    elo, low, high = _interval_of_mean(np.arange(5) / 4.0, counts / ps.size, ps.size, _two_sided_z(level))
    return Pentanomial(
        counts=tuple(int(c) for c in counts),  # type: ignore[arg-type]
        score=float(ps.mean() / 2.0),
        elo=elo,
        low=low,
        high=high,
    )


def trinomial_interval(scores: Sequence[float], level: float = 0.95) -> tuple[float, float, float]:
    """(elo, low, high) of a plain mean of per-game scores, games taken as independent (fishtest's trinomial
    get_elo); for comparison with `pentanomial` on the same games."""
    s = np.asarray(scores, dtype=float).ravel()
    if s.size == 0:
        raise ValueError("trinomial_interval needs at least one game")
    if np.any((s < 0) | (s > 1)):
        raise ValueError("scores must lie in [0, 1]")
    values, counts = np.unique(s, return_counts=True)
    return _interval_of_mean(values, counts / s.size, s.size, _two_sided_z(level))
