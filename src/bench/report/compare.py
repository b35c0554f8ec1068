"""Comparisons the claims share: differences that cancel the shared ladder error, power, verdict words.

Every comparison between two learners goes through `difference` (`bench.elo.rating_difference` with the scale's
Sigma), every comparison with a calibrated rung through `versus_rung` (the rung is a player with weight 1 on
itself and no game noise, so the ladder error the two share cancels too), and with a fixed Elo value through
`versus_value` (the absolute interval: game noise plus w^T Sigma w). Ratings on different scales are never
compared (`same_scale`). Seeds of one configuration are pooled by `pool`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from bench import elo
from bench.report.scales import Rated, Scale

LEVEL = 0.95
POWER = 0.8

VERDICTS = ("contradicted", "no evidence", "different scales", "inconclusive", "supported", "supported strongly")
"""From weakest to strongest support; a claim with parts takes its weakest part's verdict. "inconclusive": the
interval spans both sides, so the effect the claim needs is below what the data can detect (the smallest
detectable difference is stated beside it); there is no "suggested"."""


def weakest(verdicts: list[str]) -> str:
    return min(verdicts, key=VERDICTS.index)


def same_scale(a: Scale, b: Scale) -> bool:
    """Both ratings come from games under the same rules, rated by the same calibration file."""
    return a.key == b.key


def different_scales_text(a: Scale, b: Scale) -> str:
    return f"on different scales ({a.label} vs {b.label}): no verdict between them"


def _ladder(scale: Scale) -> tuple[np.ndarray, list[str]]:
    return (scale.cov, scale.order) if scale.cov is not None else (np.zeros((0, 0)), [])


def absolute_se(r: Rated, scale: Scale) -> float:
    """sqrt(se_games^2 + w^T Sigma w) with the scale's full Sigma; the record's own absolute SE when the weights
    or Sigma are unknown."""
    if not r.cancels or scale.cov is None:
        return r.se
    return math.sqrt(r.se_games**2 + elo.ladder_variance(r.weights, scale.cov, scale.order))


def difference(a: Rated, b: Rated, scale: Scale) -> tuple[elo.Difference, str]:
    """a - b on one scale, and how its SE was formed (ladder error cancelled, or not)."""
    if a.cancels and b.cancels and scale.cov is not None:
        cov, order = _ladder(scale)
        d = elo.rating_difference(a.elo, a.se_games, a.weights, b.elo, b.se_games, b.weights, cov, order, LEVEL,
                                  POWER)
        old = next((r.source for r in (a, b) if r.source != "record"), "")
        return d, f"ladder error cancelled (Sigma: {scale.covariance_source})" + (f"; {old}" if old else "")
    d = elo.rating_difference(a.elo, absolute_se(a, scale), {}, b.elo, absolute_se(b, scale), {}, np.zeros((0, 0)),
                              [], LEVEL, POWER)
    why = a.source if not a.cancels else b.source if not b.cancels else "ladder covariance unknown"
    return d, f"{why}: absolute SEs combined, ladder error not cancelled"


def rung_as_rated(scale: Scale, rung: str) -> Rated:
    """A calibrated rung as a rating: no game noise, weight 1 on itself."""
    value = scale.ratings[rung]
    se = absolute_se(Rated(value, 0.0, {rung: 1.0}, 0.0, value, value), scale)
    return Rated(value, 0.0, {rung: 1.0}, se, value - 1.96 * se, value + 1.96 * se)


def versus_rung(a: Rated, scale: Scale, rung: str) -> tuple[elo.Difference, str]:
    return difference(a, rung_as_rated(scale, rung), scale)


def versus_value(a: Rated, scale: Scale, value: float) -> tuple[elo.Difference, str]:
    """a - value, value a fixed Elo on the ladder's scale: the absolute SE (game noise plus w^T Sigma w)."""
    se = absolute_se(a, scale)
    d = elo.rating_difference(a.elo, se, {}, value, 0.0, {}, np.zeros((0, 0)), [], LEVEL, POWER)
    return d, "absolute interval (game noise and the ladder's error relative to its anchor)"


def pool(ratings: list[Rated], scale: Scale) -> Rated:
    """The mean of several seeds' ratings at one evaluation: elo the mean, game variance sum se_i^2 / k^2 (seeds'
    games are independent), weights the mean weights (the ladder error is shared, so it does not average out).
    An edge among them makes the game SE infinite and the interval the mean of the seeds' bounds (conservative).
    Seed-to-seed variation of the learner is not in this SE: it is the measurement of these seeds' mean."""
    k = len(ratings)
    if k == 1:
        return ratings[0]
    mean = sum(r.elo for r in ratings) / k
    edges = {r.edge for r in ratings if r.edge}
    low, high = sum(r.low for r in ratings) / k, sum(r.high for r in ratings) / k
    if edges or not all(r.cancels for r in ratings) or scale.cov is None:
        se = sum(absolute_se(r, scale) for r in ratings) / k  # ladder errors fully correlated: an upper bound
        source = next((r.source for r in ratings if r.source != "record"), "record")
        z = 1.959963984540054
        return Rated(mean, math.inf if edges else se, {}, se, low if edges else mean - z * se,
                     high if edges else mean + z * se, edges.pop() if len(edges) == 1 else None, source)
    se_games = math.sqrt(sum(r.se_games**2 for r in ratings)) / k
    names = {n for r in ratings for n in r.weights}
    weights = {n: sum(r.weights.get(n, 0.0) for r in ratings) / k for n in names}
    pooled = Rated(mean, se_games, weights, 0.0, mean, mean)
    se = absolute_se(pooled, scale)
    z = 1.959963984540054
    source = next((r.source for r in ratings if r.source != "record"), "record")
    return Rated(mean, se_games, weights, se, mean - z * se, mean + z * se, None, source)


@dataclass(frozen=True)
class Comparison:
    """A difference with the words a claim prints."""

    diff: elo.Difference
    how: str

    def text(self) -> str:
        d = self.diff
        if not math.isfinite(d.se):
            return f"difference {d.diff:+.0f} Elo, SE unbounded (an edge fit): smallest detectable difference ∞"
        return (f"difference {d.diff:+.0f} [{d.low:+.0f}, {d.high:+.0f}] Elo, SE {d.se:.0f}, p = {d.p_value:.2g}; "
                f"smallest detectable difference {d.mdd:.0f} Elo (80% power, two-sided 5%); {self.how}")


def side_verdict(d: elo.Difference) -> str:
    """Is a > b? "supported" (interval above 0), "contradicted" (below), else "inconclusive"."""
    if d.low > 0:
        return "supported"
    if d.high < 0:
        return "contradicted"
    return "inconclusive"


def mdd_text(d: elo.Difference) -> str:
    return "smallest detectable difference " + (f"{d.mdd:.0f} Elo" if math.isfinite(d.mdd) else "∞ (an edge fit)")
