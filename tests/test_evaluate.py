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
    estimate = fit_games(games, "L", cal, True)
    assert 200 < estimate.elo < 600 and estimate.low < estimate.elo < estimate.high
    penta = pentanomial_of(games, "L")
    assert penta is not None and penta.counts == (1, 0, 0, 1, 0)


def test_edges_are_reported_not_clipped() -> None:
    rungs, cal = synthetic()
    sweep = [game("L", "top", "1-0", 0), game("top", "L", "0-1", 0)]
    estimate = fit_games(sweep, "L", cal, True)
    per_rung = {"top": {"games": 2, "score": 2.0, "rung_elo": 1350.0}}
    assert estimate.edge == "above" and _edge(estimate, per_rung, rungs, cal) == "above_top"
    per_rung = {"random": {"games": 2, "score": 0.0, "rung_elo": -600.0}}
    assert _edge(estimate, per_rung, rungs, cal) == "below_floor"


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
    assert result.record()["games"] == 12
