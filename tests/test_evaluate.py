"""Adaptive evaluation: bracket choice, edges, and a full evaluation against the quick ladder."""

from __future__ import annotations

import math
from pathlib import Path

import chess
import chess.pgn
import pytest

from bench.evaluate import _edge, choose_bracket, evaluate, fit_games, pentanomial_of
from bench.games import GameRules
from bench.ladder import Calibration, Rung, RungRating, load_calibration, rungs_from_config
from bench.players import EngineSettings, RandomPlayer
from tests.conftest import compose_config

ELOS = {"random": -600.0, "a": -200.0, "b": 200.0, "c": 600.0, "top": 1350.0}


def synthetic() -> tuple[list[Rung], Calibration]:
    rungs = [Rung(name, "stockfish", EngineSettings(nodes=1)) for name in ELOS]
    ratings = {n: RungRating(e, 30.0, e - 60, e + 60, None) for n, e in ELOS.items()}
    return rungs, Calibration(Path("x"), "syn", ratings, {}, "", {}, 0, "top", "", {})


def fit_of(games: list[chess.pgn.Game], cal: Calibration):
    return fit_games(games, "L", cal)


def test_bracket_starts_at_the_bottom_and_straddles_the_estimate() -> None:
    rungs, cal = synthetic()
    assert [r.name for r in choose_bracket(None, rungs, cal, 3)] == ["random", "a", "b"]
    assert [r.name for r in choose_bracket(250, rungs, cal, 2)] == ["b", "c"]
    assert [r.name for r in choose_bracket(-190, rungs, cal, 2)] == ["a", "b"]
    assert [r.name for r in choose_bracket(5000, rungs, cal, 2)] == ["c", "top"]
    below = choose_bracket(-5000, rungs, cal, 3)
    assert [r.name for r in below] == ["random", "a", "b"]


def game(white: str, black: str, result: str, pair: int) -> chess.pgn.Game:
    g = chess.pgn.Game()
    g.headers.update({"White": white, "Black": black, "Result": result, "Pair": str(pair)})
    return g


def test_fit_and_pentanomial_from_games() -> None:
    _, cal = synthetic()
    games = [game("L", "b", "1-0", 0), game("b", "L", "1/2-1/2", 0), game("L", "c", "0-1", 1), game("c", "L", "1-0", 1)]
    fit = fit_of(games, cal)
    assert 200 < fit.games.elo < 600 and fit.games.low < fit.games.elo < fit.games.high
    # the absolute interval adds the ladder's error (diagonal SEs of 30 here) to the game noise
    assert fit.absolute.se > fit.games.se and fit.absolute.low < fit.games.low
    assert sum(fit.weights.values()) == pytest.approx(1.0)
    penta = pentanomial_of(games, "L")
    assert penta is not None and penta.counts == (1, 0, 0, 1, 0)


def test_interval_against_one_rung_is_wilsons_and_its_width_matches_the_analytic_se() -> None:
    """6 wins and 2 losses against rung b (200): the MLE is 200 + 400 log10(3); the Fisher standard error is
    400 / (ln 10 sqrt(n p (1 - p))) with p = 3/4; the interval given the ladder is Wilson's interval for a
    proportion mapped to Elo (no draws: dispersion 1); the absolute interval adds rung b's SE of 30 in
    quadrature to each side (Wilson 1927; Brown, Cai & DasGupta 2001)."""
    _, cal = synthetic()
    games = [game("L", "b", "1-0", i) if i % 2 == 0 else game("b", "L", "0-1", i) for i in range(6)]
    games += [game("L", "b", "0-1", 6), game("b", "L", "1-0", 6)]
    fit = fit_of(games, cal)
    n, p, z = 8, 0.75, 1.959963984540054
    to_elo = lambda q: 200 + 400 * math.log10(q / (1 - q))  # noqa: E731
    se = 400 / (math.log(10) * math.sqrt(n * p * (1 - p)))
    centre, half = (p + z * z / (2 * n)) / (1 + z * z / n), z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (
        1 + z * z / n)
    assert fit.games.elo == pytest.approx(200 + 400 * math.log10(3), abs=1e-6)
    assert fit.games.se == pytest.approx(se, rel=1e-9)  # 200.6 Elo
    assert (fit.games.low, fit.games.high) == pytest.approx((to_elo(centre - half), to_elo(centre + half)), abs=1e-4)
    # the score interval is asymmetric on the Elo scale, but its width is the Wald width 2 z se within 25% here
    assert 0.8 < (fit.games.high - fit.games.low) / (2 * z * se) < 1.25
    assert fit.ladder_se == pytest.approx(30.0) and fit.absolute.se == pytest.approx(math.hypot(se, 30.0))
    assert fit.absolute.high - fit.absolute.elo == pytest.approx(math.hypot(fit.games.high - fit.games.elo, z * 30))
    assert fit.absolute.elo - fit.absolute.low == pytest.approx(math.hypot(fit.games.elo - fit.games.low, z * 30))


def hand_se(games: list[chess.pgn.Game], name: str, ratings: dict[str, float], elo_hat: float) -> float:
    """The rating's standard error given the ladder, by hand from the games: Fisher information
    I = C^2 sum_i p_i (1 - p_i), p_i = 1 / (1 + 10^((r_i - x) / 400)), times the draw dispersion
    phi = min(1, (n X^2/B + 4) / (n - 1 + 4)) with X^2 = sum (s_i - p_i)^2 and B = sum p_i (1 - p_i)
    (Pearson's statistic shrunk by 4 pseudo-games, bench.elo._dispersion): se = sqrt(phi / I)."""
    c = math.log(10) / 400
    points = {"1-0": 1.0, "0-1": 0.0, "1/2-1/2": 0.5}
    pairs = []
    for g in games:
        white = points[g.headers["Result"]]
        if g.headers["White"] == name:
            pairs.append((ratings[g.headers["Black"]], white))
        else:
            pairs.append((ratings[g.headers["White"]], 1.0 - white))
    p = [1 / (1 + 10 ** ((r - elo_hat) / 400)) for r, _ in pairs]
    bern = sum(q * (1 - q) for q in p)
    x2 = sum((s - q) ** 2 for (_, s), q in zip(pairs, p))
    n = len(pairs)
    phi = min(1.0, (n * x2 / bern + 4) / (n - 1 + 4))
    return math.sqrt(phi / (c * c * bern))


def check_interval(record: dict, games: list[chess.pgn.Game], name: str, ratings: dict[str, float]) -> None:
    """A record's intervals against the analytic standard error: `elo_se_games` equals the hand Fisher SE; the
    interval given the ladder is 2 z se wide within 30% (score interval vs Wald); the absolute SE adds the
    ladder's in quadrature. An edge (every game won or lost) has no SE: its one open side is checked instead."""
    z = 1.959963984540054
    low, high = record["elo_ci_games"]
    if not (math.isfinite(low) and math.isfinite(high)):
        assert record["elo_se_games"] == math.inf and (low == record["elo"] or high == record["elo"])
        return
    se = hand_se(games, name, ratings, record["elo"])
    assert record["elo_se_games"] == pytest.approx(se, rel=1e-6)
    assert 0.7 < (high - low) / (2 * z * se) < 1.3, (low, high, se)
    assert record["elo_se"] == pytest.approx(math.hypot(se, record["ladder_se"]), rel=1e-6)
    assert record["elo_ci"][1] - record["elo"] == pytest.approx(math.hypot(high - record["elo"],
                                                                           z * record["ladder_se"]), rel=1e-6)


def test_edges_come_from_the_fit_not_from_one_rung() -> None:
    rungs, cal = synthetic()
    sweep = [game("L", "top", "1-0", 0), game("top", "L", "0-1", 0)]
    fit = fit_of(sweep, cal)
    assert fit.games.edge == "above"
    assert _edge(fit.games, {"top": {"games": 2, "score": 2.0}}, rungs, cal) == "above_top"
    # won every game, but the top rung was never played: a bound below the ladder's end
    beat_b = [game("L", "b", "1-0", 0), game("b", "L", "0-1", 0)]
    assert _edge(fit_of(beat_b, cal).games, {"b": {"games": 2, "score": 2.0}}, rungs, cal) == "above_bracket"
    # lost every game to a bracket without the floor: a bound, not a finite estimate with edge None
    lost = [game("L", "a", "0-1", 0), game("a", "L", "1-0", 0), game("L", "b", "0-1", 1), game("b", "L", "1-0", 1)]
    fit_lost = fit_of(lost, cal)
    assert fit_lost.games.edge == "below"
    assert _edge(fit_lost.games, {"a": {"games": 2, "score": 0.0}, "b": {"games": 2, "score": 0.0}}, rungs, cal) \
        == "below_bracket"
    floor = [game("L", "random", "0-1", 0), game("random", "L", "1-0", 0)]
    assert _edge(fit_of(floor, cal).games, {"random": {"games": 2, "score": 0.0}}, rungs, cal) == "below_floor"
    # a zero against the floor beside points against another rung is a finite fit: no edge
    mixed = floor + [game("L", "a", "1-0", 1), game("a", "L", "1/2-1/2", 1)]
    fit_mixed = fit_of(mixed, cal)
    per_rung = {"random": {"games": 2, "score": 0.0}, "a": {"games": 2, "score": 1.5}}
    assert fit_mixed.games.edge is None and _edge(fit_mixed.games, per_rung, rungs, cal) is None


@pytest.mark.stockfish
def test_random_player_is_rated_near_the_random_rung_on_the_quick_ladder() -> None:
    cfg = compose_config(["ladder=quick", "eval=quick", "eval.games=12", "eval.rounds=2"])
    rungs = rungs_from_config(cfg.ladder)
    calibration = load_calibration(cfg.ladder, rungs)
    recorded = []
    result = evaluate(lambda: RandomPlayer(name="me"), "me", rungs, calibration, cfg.eval, GameRules.from_config(cfg.eval),
                      cfg.stockfish, prior=None, seed=1, on_game=lambda s, g: recorded.append(g), progress=False,
                      concurrency=2)
    assert len(result.games) == len(recorded) == 12
    assert all("me" in (g.headers["White"], g.headers["Black"]) for g in recorded)
    random_rung = calibration.ratings["random"]
    assert result.estimate.low <= random_rung.elo + 2 * random_rung.se
    assert result.estimate.high >= random_rung.elo - 2 * random_rung.se
    assert set(result.per_rung) <= {"random", "eps80", "eps60", "eps40"}  # bracketed near the bottom
    record = result.record()
    assert record["games"] == 12 and record["stopped"] == "games" and record["rules"] == "quick"
    assert all(g.headers["RuleSet"] == "quick" for g in recorded)
    assert sum(record["terminations"].values()) == 12 and "adjudication_win" not in record["terminations"]
    # the interval given the ladder is narrower than the absolute one, which adds the ladder's own error
    assert record["elo_ci"][0] < record["elo_ci_games"][0] and record["elo_ci_games"][1] < record["elo_ci"][1]
    check_interval(record, recorded, "me", {n: r.elo for n, r in calibration.ratings.items()})


@pytest.mark.stockfish
@pytest.mark.parametrize("target, expected_games, stopped", [(5000.0, 8, "target"), (1.0, 16, "max_games")])
def test_evaluation_plays_rounds_until_its_interval_is_narrow_enough(target: float, expected_games: int,
                                                                     stopped: str) -> None:
    """A target no interval can miss stops after the first `games`; one no interval can meet plays to the cap."""
    cfg = compose_config(["ladder=quick", "eval=quick", "eval.games=8", "eval.rounds=2",
                          f"eval.target_halfwidth={target}", "eval.max_games=16"])
    rungs = rungs_from_config(cfg.ladder)
    calibration = load_calibration(cfg.ladder, rungs, "quick")
    result = evaluate(lambda: RandomPlayer(name="me"), "me", rungs, calibration, cfg.eval, GameRules.from_config(cfg.eval),
                      cfg.stockfish, prior=None, seed=2, progress=False, concurrency=2)
    assert len(result.games) == expected_games and result.stopped == stopped


@pytest.mark.stockfish
def test_the_random_learner_lands_on_the_random_rung_of_the_default_ladder() -> None:
    """The random mover, evaluated against the random rung and its neighbours under the default rules (to mate),
    is rated where the calibration put the random rung: their difference (the random rung as a player of known
    rating, its error and the learner's shared through the ladder's covariance) is zero within its 99.7% interval."""
    from bench import elo

    cfg = compose_config(["ladder=default", "eval=default", "eval.games=80", "eval.rounds=1", "eval.rungs=3",
                          "eval.target_halfwidth=null"])
    rungs = rungs_from_config(cfg.ladder)
    calibration = load_calibration(cfg.ladder, rungs, "mate")
    result = evaluate(lambda: RandomPlayer(name="me"), "me", rungs, calibration, cfg.eval, GameRules.from_config(cfg.eval),
                      cfg.stockfish, prior=None, seed=5, progress=False, concurrency=2)
    assert set(result.per_rung) == {"random", "eps90", "eps80"}
    order, cov = calibration.covariance
    fit = result.fit
    diff = elo.rating_difference(fit.games.elo, fit.games.se, fit.weights, calibration.elo("random"), 0.0,
                                 {"random": 1.0}, cov, order, level=0.997)
    assert diff.low <= 0.0 <= diff.high, diff
    assert diff.se < 80  # 80 cheap games and a dense ladder: a test with power, not a 900-Elo-wide pass
