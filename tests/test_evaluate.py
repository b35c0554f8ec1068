"""Adaptive evaluation: bracket choice, edges, and a full evaluation against the quick ladder."""

from __future__ import annotations

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
