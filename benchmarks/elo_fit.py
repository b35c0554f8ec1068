"""Elo fit speed: 100,000 simulated games among 20 players, fitted jointly.

Times `bench.elo.fit_joint` (games aggregated by pair, then Newton on a 19 x 19 system) against a peer
measured in the same run: the same Bradley-Terry likelihood fitted game by game, without aggregation, by
scipy's L-BFGS-B with the analytic gradient (what one writes first). Prints both medians, their ratio, and
the largest rating difference between the two fits. Target: fit_joint under 1 second.

    .venv/bin/python benchmarks/elo_fit.py [--games 100000] [--players 20] [--repeats 5]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
from scipy import optimize, special

from bench.elo import C, expected_score, fit_joint


def simulate(n_games: int, n_players: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Random pairings among players rated N(1500, 300), 30% draws at equal strength."""
    rng = np.random.default_rng(seed)
    true = rng.normal(1500.0, 300.0, n_players)
    first = rng.integers(0, n_players, n_games)
    second = (first + rng.integers(1, n_players, n_games)) % n_players
    mu = expected_score(true[first] - true[second])
    draw = 0.3 * 4 * mu * (1 - mu)
    u = rng.random(n_games)
    scores = np.where(u < mu - draw / 2, 1.0, np.where(u < mu + draw / 2, 0.5, 0.0))
    return true, first, second, scores


def naive_fit(first: np.ndarray, second: np.ndarray, scores: np.ndarray, n_players: int, anchor: int,
              anchor_elo: float) -> np.ndarray:
    """The peer: per-game log-likelihood and gradient, L-BFGS-B, no aggregation."""
    free = np.flatnonzero(np.arange(n_players) != anchor)

    def neg_ll(x: np.ndarray) -> tuple[float, np.ndarray]:
        r = np.full(n_players, anchor_elo)
        r[free] = x
        d = C * (r[first] - r[second])
        ll = np.sum(scores * special.log_expit(d) + (1 - scores) * special.log_expit(-d))
        resid = C * (scores - special.expit(d))
        grad = np.bincount(first, resid, n_players) - np.bincount(second, resid, n_players)
        return -ll, -grad[free]

    res = optimize.minimize(neg_ll, np.full(free.size, anchor_elo), jac=True, method="L-BFGS-B",
                            options={"gtol": 1e-10, "ftol": 1e-15, "maxiter": 10_000})
    r = np.full(n_players, anchor_elo)
    r[free] = res.x
    return r


def median_time(fn, repeats: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--games", type=int, default=100_000)
    parser.add_argument("--players", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    true, first, second, scores = simulate(args.games, args.players, seed=0)
    anchor, anchor_elo = 0, float(true[0])
    t_ours, fit = median_time(lambda: fit_joint(first, second, scores, args.players, anchor, anchor_elo),
                              args.repeats)
    t_peer, peer = median_time(lambda: naive_fit(first, second, scores, args.players, anchor, anchor_elo),
                               args.repeats)
    print(f"games={args.games} players={args.players} repeats={args.repeats} (median wall seconds)")
    print(f"fit_joint (aggregated, Newton):        {t_ours:.4f} s   target < 1 s: "
          f"{'met' if t_ours < 1.0 else 'MISSED'}")
    print(f"peer (per game, scipy L-BFGS-B + jac): {t_peer:.4f} s")
    print(f"speed-up over peer: {t_peer / t_ours:.1f}x")
    print(f"max |fit_joint - peer| = {np.max(np.abs(fit.ratings - peer)):.4f} Elo; "
          f"max |fit_joint - truth| / se = {np.max(np.abs(fit.ratings - true)[1:] / fit.se[1:]):.2f}")


if __name__ == "__main__":
    main()
