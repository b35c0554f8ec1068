"""Coverage of bench.elo's 95% intervals when the ladder itself was calibrated with error.

A chain of 15 rungs 120 Elo apart (anchor the 13th at 1350, two rungs above it, like conf/ladder/default.yaml)
is calibrated by simulated games (300 per adjacent pair, 100 per next-adjacent pair, draws common) and fitted
jointly (`fit_joint`); that fit's covariance is Sigma. Each trial draws the ladder's calibrated ratings
r_hat = r_true + N(0, Sigma) (mode `drawn`), or replays and refits the calibration games so that Sigma itself
is estimated (mode `refit`). Two players of known strength, uniform over the ladder, are then evaluated as
`bench.evaluate` does: two rounds of 20 games against the 3 rungs nearest the current estimate (the first
bracket from an earlier estimate off by N(0, 150)), scored against the true ratings, fitted against r_hat.

Rows: an interval's coverage of the truth and its mean half-width (finite intervals only). The first three
are the claims (93-97%); the controls show what the test can catch: the games-only interval on a noisy ladder
(ladder error ignored), the absolute interval with rung errors taken as independent (diag Sigma), and a
difference whose ladder error is counted once per player instead of cancelled.

    .venv/bin/python benchmarks/elo_coverage.py [--trials 2000] [--mode drawn|refit|both] [--seed 0]
        [--adjacent 300 --next-adjacent 100] [--rounds 2 --games-per-round 20]
        [--target-halfwidth 60 --max-games 200]

The evaluation rounds default to a fixed 40 games; `--target-halfwidth 60` adds evaluate's sequential stopping
(eval.target_halfwidth), whose data-dependent stopping the intervals do not model. The ladder defaults to
conf/ladder/default.yaml's games per pair; fewer (`--adjacent 100 --next-adjacent 40`) make its error comparable
to the games' and the controls fail clearly (the seeded test in tests/test_elo.py uses that design).
"""

from __future__ import annotations

import argparse
import math
from dataclasses import dataclass, field

import numpy as np

from bench.elo import (
    Estimate,
    expected_score,
    fit_joint,
    fit_on_ladder,
    fit_player,
    ladder_variance,
    rating_difference,
)

SPACING = 120.0
N_RUNGS = 15
ANCHOR = 12
ANCHOR_ELO = 1350.0
TRUE = ANCHOR_ELO + SPACING * (np.arange(N_RUNGS) - ANCHOR)
NAMES = [f"rung{i:02d}" for i in range(N_RUNGS)]
DRAW_FACTOR = 0.3  # draws D = 0.3 * 4 mu (1 - mu): 30% between equals
Z95 = 1.959963984540054


def simulate_scores(rng: np.random.Generator, diff: np.ndarray) -> np.ndarray:
    """Per-game scores 1 / 0.5 / 0 of a side `diff` Elo stronger, with draws."""
    mu = expected_score(diff)
    draw = DRAW_FACTOR * 4.0 * mu * (1.0 - mu)
    u = rng.random(np.shape(diff))
    return np.where(u < mu - draw / 2, 1.0, np.where(u < mu + draw / 2, 0.5, 0.0))


def calibrate(
    rng: np.random.Generator, adjacent: int = 300, next_adjacent: int = 100
) -> tuple[np.ndarray, np.ndarray]:
    """One simulated calibration of the chain: its jointly fitted ratings and their covariance."""
    pairs = [(i, i + 1, adjacent) for i in range(N_RUNGS - 1)]
    pairs += [(i, i + 2, next_adjacent) for i in range(N_RUNGS - 2)]
    first = np.concatenate([np.full(n, a) for a, _, n in pairs])
    second = np.concatenate([np.full(n, b) for _, b, n in pairs])
    flip = np.arange(first.size) % 2 == 1
    first, second = np.where(flip, second, first), np.where(flip, first, second)
    scores = simulate_scores(rng, TRUE[first] - TRUE[second])
    fit = fit_joint(first, second, scores, N_RUNGS, anchor=ANCHOR, anchor_elo=ANCHOR_ELO)
    return fit.ratings, fit.cov


def bracket(estimate: float, ratings: np.ndarray, count: int = 3) -> list[int]:
    """The `count` rungs nearest `estimate`, with one on each side where the ladder allows (as evaluate does)."""
    nearest = list(np.argsort(np.abs(ratings - estimate), kind="stable")[:count])
    below = [i for i in np.argsort(ratings) if ratings[i] <= estimate]
    above = [i for i in np.argsort(ratings) if ratings[i] > estimate]
    for side in (below[-1:], above[:1]):
        if side and side[0] not in nearest:
            nearest = nearest[:-1] + side
    return [int(i) for i in nearest]


@dataclass(frozen=True)
class Design:
    """How the ladder is calibrated and how each player is evaluated."""

    adjacent: int = 300
    """Calibration games per adjacent pair of rungs."""
    next_adjacent: int = 100
    """Calibration games per pair two rungs apart."""
    rounds: int = 2
    """Evaluation rounds, the bracket re-chosen before each."""
    games_per_round: int = 20
    """Evaluation games per round, spread over the 3 bracketing rungs."""
    target_halfwidth: float = 0.0
    """After `rounds`, more rounds until the games-only 95% half-width is at most this (0: no target)."""
    max_games: int = 200
    """The cap on games when a target is set."""


def evaluate(
    rng: np.random.Generator, strength: float, ratings: np.ndarray, design: Design
) -> tuple[list[str], np.ndarray]:
    """Rounds of games against the bracket of the current estimate, scored from the true ratings; with a target
    half-width, more rounds until the games-only interval is that narrow or `max_games` are played (as
    `bench.evaluate` stops)."""
    estimate = strength + rng.normal(0.0, 150.0)
    opponents: list[int] = []
    scores = np.empty(0)
    k = 0
    while True:
        if k >= design.rounds and (not design.target_halfwidth or len(opponents) >= design.max_games):
            break
        if k:
            fit = fit_player(ratings[opponents], scores)
            estimate = fit.elo
            if k >= design.rounds and max(fit.elo - fit.low, fit.high - fit.elo) <= design.target_halfwidth:
                break
        k += 1
        rungs = bracket(estimate, ratings)
        new = [rungs[g % len(rungs)] for g in range(design.games_per_round)]
        scores = np.concatenate([scores, simulate_scores(rng, strength - TRUE[np.array(new)])])
        opponents += new
    return [NAMES[i] for i in opponents], scores


def _covers(est: Estimate, truth: float) -> bool:
    return est.low <= truth <= est.high


def _half(est: Estimate) -> float:
    return (est.high - est.low) / 2 if math.isfinite(est.high - est.low) else math.nan


@dataclass
class Tally:
    """Intervals seen, how many covered the truth, and their half-widths."""

    covered: int = 0
    trials: int = 0
    halves: list[float] = field(default_factory=list)

    def add(self, covered: bool, half: float) -> None:
        self.covered += int(covered)
        self.trials += 1
        self.halves.append(half)

    @property
    def coverage(self) -> float:
        return self.covered / max(self.trials, 1)

    @property
    def mean_half(self) -> float:
        finite = [h for h in self.halves if math.isfinite(h)]
        return float(np.mean(finite)) if finite else math.nan


ROWS = {
    "single, games only, true ladder": "claim",
    "single, absolute (full Sigma), noisy ladder": "claim",
    "difference A-B, ladder error cancelled": "claim",
    "control: single, games only, noisy ladder": "control",
    "control: single, absolute with diag Sigma": "control",
    "control: difference, ladder error not cancelled": "control",
}


def simulate_coverage(
    trials: int, seed: int = 0, mode: str = "drawn", design: Design = Design()
) -> dict[str, Tally]:
    """Coverage of every row of the table over `trials` ladders, two players each."""
    rng = np.random.default_rng(seed)
    tallies = {row: Tally() for row in ROWS}
    _, sigma = calibrate(np.random.default_rng(seed + 10_000), design.adjacent, design.next_adjacent)
    free = np.arange(N_RUNGS) != ANCHOR
    chol = np.linalg.cholesky(sigma[np.ix_(free, free)])
    for _ in range(trials):
        if mode == "drawn":
            ratings = TRUE.copy()
            ratings[free] += chol @ rng.standard_normal(N_RUNGS - 1)
            cov = sigma
        elif mode == "refit":
            ratings, cov = calibrate(rng, design.adjacent, design.next_adjacent)
        else:
            raise ValueError(f"mode must be drawn or refit, got {mode!r}")
        table = dict(zip(NAMES, ratings))
        diag = np.diag(np.diag(cov))
        fits = []
        for strength in rng.uniform(TRUE[0], TRUE[-1], 2):
            opponents, scores = evaluate(rng, float(strength), ratings, design)
            given_true = fit_player([TRUE[NAMES.index(o)] for o in opponents], scores)
            tallies["single, games only, true ladder"].add(_covers(given_true, strength), _half(given_true))
            est = fit_on_ladder(opponents, scores, table, cov, NAMES)
            absolute, games = est.absolute, est.games
            tallies["single, absolute (full Sigma), noisy ladder"].add(
                _covers(absolute, strength), _half(absolute))
            tallies["control: single, games only, noisy ladder"].add(_covers(games, strength), _half(games))
            indep = fit_on_ladder(opponents, scores, table, diag, NAMES).absolute
            tallies["control: single, absolute with diag Sigma"].add(_covers(indep, strength), _half(indep))
            fits.append((float(strength), est))
        (xa, a), (xb, b) = fits
        d = rating_difference(a.games.elo, a.games.se, a.weights, b.games.elo, b.games.se, b.weights, cov, NAMES)
        tallies["difference A-B, ladder error cancelled"].add(d.low <= xa - xb <= d.high, Z95 * d.se)
        naive_se = math.hypot(a.absolute.se, b.absolute.se)
        naive_ok = abs(d.diff - (xa - xb)) <= Z95 * naive_se
        tallies["control: difference, ladder error not cancelled"].add(naive_ok, Z95 * naive_se)
    return tallies


def ladder_summary(seed: int = 0, design: Design = Design()) -> str:
    """SE relative to the anchor of the bottom rung and of one adjacent difference, in the reference Sigma."""
    _, sigma = calibrate(np.random.default_rng(seed + 10_000), design.adjacent, design.next_adjacent)
    adj = ladder_variance({NAMES[0]: 1.0, NAMES[1]: -1.0}, sigma, NAMES)
    return (
        f"ladder: {N_RUNGS} rungs {SPACING:.0f} apart, anchor {NAMES[ANCHOR]}={ANCHOR_ELO:.0f}, "
        f"{design.adjacent}/{design.next_adjacent} games per adjacent/next pair; Sigma from one simulated "
        f"calibration: bottom rung SE {math.sqrt(sigma[0, 0]):.0f}, adjacent SE {math.sqrt(adj):.0f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=2000)
    parser.add_argument("--mode", choices=["drawn", "refit", "both"], default="both")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--adjacent", type=int, default=Design.adjacent, help="calibration games, adjacent")
    parser.add_argument("--next-adjacent", type=int, default=Design.next_adjacent, help="games, pairs 2 apart")
    parser.add_argument("--rounds", type=int, default=Design.rounds)
    parser.add_argument("--games-per-round", type=int, default=Design.games_per_round)
    parser.add_argument("--target-halfwidth", type=float, default=Design.target_halfwidth,
                        help="more rounds until the games-only half-width is this (eval.target_halfwidth)")
    parser.add_argument("--max-games", type=int, default=Design.max_games)
    args = parser.parse_args()
    design = Design(args.adjacent, args.next_adjacent, args.rounds, args.games_per_round, args.target_halfwidth,
                    args.max_games)
    print(ladder_summary(args.seed, design))
    target = (f", then rounds until the games-only half-width is <= {design.target_halfwidth:g} or "
              f"{design.max_games} games" if design.target_halfwidth else "")
    print(f"players: 2 per trial, uniform over the ladder, {design.rounds} rounds of {design.games_per_round} "
          f"games against the 3 rungs nearest the current estimate{target}")
    for mode in ["drawn", "refit"] if args.mode == "both" else [args.mode]:
        tallies = simulate_coverage(args.trials, args.seed, mode, design)
        print(f"\nmode {mode}: {args.trials} trials; coverage of the truth by 95% intervals (sd: the binomial "
              "sd of the coverage estimate)")
        print(f"{'interval':50s} {'n':>5s} {'coverage':>9s} {'sd':>6s} {'mean half-width':>16s}")
        for row, t in tallies.items():
            sd = math.sqrt(t.coverage * (1 - t.coverage) / t.trials)
            print(f"{row:50s} {t.trials:5d} {t.coverage:9.3f} {sd:6.3f} {t.mean_half:16.0f}")


if __name__ == "__main__":
    main()
