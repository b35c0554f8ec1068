"""What "learned" means for seed claim 2 (issue 19), the same for every task family, chess or not. Pure functions.

A run's held-out curve is a list of (compute spent, held-out success rate) points, the first one before learning.
With s0 the untrained success, c the family's ceiling (1.0 unless stated) and f a fraction (0.5, 0.9):

    target(f) = s0 + f (c - s0)           compute_to(f) = the compute where the curve first reaches target(f)

linearly interpolated between the last evaluation below the target and the first at or above it (the curve is only
known at its evaluations; the interpolation assumes it straight in between). A run that never reaches the target
is *censored*: it says only that more than its whole spend was needed. A run that starts at the ceiling needs 0.

Over seeds, compute is summarised on the log scale (compute spans orders of magnitude and ratios are what claim 2
compares): the geometric mean with a Student-t interval of the mean log over seeds (Student 1908), and the ratio
of two families' geometric means with Welch's t interval of the difference of mean logs (Welch 1947). When any seed
of a family is censored its figure is a lower bound (its spend stands in for the unknown compute), and a ratio with
a censored side is a bound in that direction: only the interval's end on that side is kept. A family that needs no compute (it starts at the
ceiling) has a geometric mean of 0, and a ratio with it is undetermined.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

from scipy import stats

FRACTIONS = (0.5, 0.9)
"""The gap fractions the report shows: compute to close 50% and 90% of the way from untrained to the ceiling."""


@dataclass(frozen=True)
class Crossing:
    """One run's compute to close a fraction of its held-out gap."""

    fraction: float
    start: float
    """Held-out success before learning."""
    target: float
    """start + fraction x (ceiling - start)."""
    compute: float | None
    """Compute at which the curve first reaches `target` (interpolated); None when it never does (censored)."""
    spent: float
    """Compute at the run's last evaluation (what a censored run shows: more than this was needed)."""

    @property
    def censored(self) -> bool:
        return self.compute is None

    @property
    def value(self) -> float:
        """`compute`, or `spent` for a censored run (a lower bound)."""
        return self.spent if self.compute is None else self.compute


def crossing(points: Sequence[tuple[float, float]], fraction: float, ceiling: float = 1.0) -> Crossing:
    """Compute to close `fraction` of the gap between the first point's success and `ceiling` (module docstring)."""
    if not points:
        raise ValueError("a held-out curve needs at least its point before learning")
    if not 0.0 < fraction <= 1.0:
        raise ValueError(f"fraction {fraction} outside (0, 1]")
    curve = sorted(points, key=lambda p: p[0])
    c0, start = curve[0]
    if start >= ceiling:
        return Crossing(fraction, start, start, c0, curve[-1][0])
    target = start + fraction * (ceiling - start)
    for (ca, sa), (cb, sb) in zip(curve, curve[1:]):
        if sb >= target - 1e-12:
            at = cb if sb <= sa else ca + (cb - ca) * min(1.0, max(0.0, (target - sa) / (sb - sa)))
            return Crossing(fraction, start, target, at, curve[-1][0])
    return Crossing(fraction, start, target, None, curve[-1][0])


@dataclass(frozen=True)
class Summary:
    """A family's compute-to-target over its seeds."""

    n: int
    censored: int
    """Seeds that never reached the target (their spend stands in: the figure is then a lower bound)."""
    geomean: float
    low: float | None
    """95% interval of the geometric mean (t over seeds on log compute); None with one seed or a censored seed."""
    high: float | None

    @property
    def bound(self) -> str:
        """'>=' when the figure is a lower bound (a censored seed), else ''."""
        return ">=" if self.censored else ""


def _logs(values: Sequence[float]) -> list[float]:
    return [math.log(v) for v in values]


def summarise(crossings: Sequence[Crossing], level: float = 0.95) -> Summary:
    """Geometric mean of the seeds' compute with a t interval on the logs (module docstring)."""
    if not crossings:
        raise ValueError("no seeds to summarise")
    n, censored = len(crossings), sum(c.censored for c in crossings)
    if any(c.value <= 0 for c in crossings):
        return Summary(n, censored, 0.0, None, None)
    logs = _logs([c.value for c in crossings])
    mean = sum(logs) / n
    low = high = None
    if n >= 2 and not censored:
        sd = math.sqrt(sum((x - mean) ** 2 for x in logs) / (n - 1))
        half = float(stats.t.ppf(0.5 + level / 2, n - 1)) * sd / math.sqrt(n)
        low, high = math.exp(mean - half), math.exp(mean + half)
    return Summary(n, censored, math.exp(mean), low, high)


@dataclass(frozen=True)
class Ratio:
    """Geometric-mean compute of family a over family b, with its interval or the one-sided bound censoring allows."""

    point: float
    low: float | None
    """95% lower end (Welch, 2+ seeds a side); with a censored a, a lower bound of the ratio still."""
    high: float | None
    """95% upper end; with a censored b, an upper bound of the ratio still."""
    bound: str
    """'>=' (a censored: the ratio is at least `point`, `high` open), '<=' (b censored: at most, `low` open), '?'
    (both censored, or a family needing no compute: no statement), '' (neither)."""

    def text(self) -> str:
        if self.bound == "?":
            return "undetermined (neither reached the target, or one needed no compute)"
        if self.low is None and self.high is None:
            return f"{self.bound + ' ' if self.bound else ''}{self.point:.3g} (fewer than 2 seeds a side: no interval)"
        low = f"{self.low:.3g}" if self.low is not None else "0"
        high = f"{self.high:.3g}" if self.high is not None else "∞"
        return f"{self.bound + ' ' if self.bound else ''}{self.point:.3g} [{low}, {high}]"


def ratio(a: Sequence[Crossing], b: Sequence[Crossing], level: float = 0.95) -> Ratio:
    """a's compute over b's: exp(mean log a - mean log b), Welch's t interval when both have 2+ seeds; a censored
    side (its spend standing in) keeps only the end of the interval that stays valid (module docstring)."""
    if not a or not b:
        raise ValueError("a ratio needs seeds on both sides")
    ca, cb = any(c.censored for c in a), any(c.censored for c in b)
    if any(c.value <= 0 for c in (*a, *b)) or (ca and cb):
        return Ratio(math.nan, None, None, "?")
    la, lb = _logs([c.value for c in a]), _logs([c.value for c in b])
    ma, mb = sum(la) / len(la), sum(lb) / len(lb)
    point = math.exp(ma - mb)
    low = high = None
    if len(la) >= 2 and len(lb) >= 2:
        va = sum((x - ma) ** 2 for x in la) / (len(la) - 1) / len(la)
        vb = sum((x - mb) ** 2 for x in lb) / (len(lb) - 1) / len(lb)
        se = math.sqrt(va + vb)
        if se == 0.0:
            low = high = point
        else:
            dof = se**4 / ((va**2 / (len(la) - 1) if va else 0.0) + (vb**2 / (len(lb) - 1) if vb else 0.0))
            half = float(stats.t.ppf(0.5 + level / 2, dof)) * se
            low, high = math.exp(ma - mb - half), math.exp(ma - mb + half)
    if ca:
        return Ratio(point, low, None, ">=")
    if cb:
        return Ratio(point, None, high, "<=")
    return Ratio(point, low, high, "")


def verdict(r: Ratio, more: float = 1.0) -> str:
    """'supported' when a's compute is surely above `more` times b's (the interval's lower end above it),
    'contradicted' when surely below, else 'inconclusive'; a censored side leaves only the end it bounds."""
    if r.bound == "?":
        return "inconclusive"
    if r.low is not None and r.low > more:
        return "supported"
    if r.high is not None and r.high < more:
        return "contradicted"
    return "inconclusive"


__all__ = ["FRACTIONS", "Crossing", "Ratio", "Summary", "crossing", "ratio", "summarise", "verdict"]
