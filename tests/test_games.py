"""Games and matches against real Stockfish: openings, adjudication, PGN headers, engine death, concurrency."""

from __future__ import annotations

import io
import os
import signal
import threading

import chess
import chess.pgn
import pytest

from bench.errors import BenchError
from bench.games import (GameRules, load_openings, paired_specs, parse_openings, play_game, play_match,
                         white_score)
from bench.players import EngineSettings, MoveResult, PlayerBase, RandomPlayer, StockfishPlayer


def test_default_openings_are_legal_and_named() -> None:
    openings = load_openings("default")
    assert len(openings) >= 10
    assert len({o.name for o in openings}) == len(openings)
    for opening in openings:
        assert opening.board().is_valid()


def test_bad_opening_line_names_file_and_line() -> None:
    with pytest.raises(BenchError, match="suite.txt:2: illegal or unparsable move 'Ke5'"):
        parse_openings("ok: e4 e5\nbad: e4 Ke5\n", "suite.txt")
    with pytest.raises(BenchError, match="no openings"):
        parse_openings("# nothing\n", "empty.txt")
    with pytest.raises(BenchError, match="not found"):
        load_openings("no-such-suite")


def test_paired_specs_swap_colours_on_the_same_opening() -> None:
    openings = load_openings("default")
    specs = paired_specs("a", "b", openings, 3, seed=1)
    assert [(s.white, s.black) for s in specs] == [("a", "b"), ("b", "a")] * 3
    assert specs[0].opening == specs[1].opening != specs[2].opening
    assert len({s.seed for s in specs}) == 6


class Blunderer(PlayerBase):
    """Returns an illegal move every time: the game loop must replace it and count a forfeit."""

    name = "blunderer"

    def play(self, board: chess.Board) -> MoveResult:
        return MoveResult(move=chess.Move.from_uci("a1a8"))


def test_illegal_moves_are_forfeits_counted_in_headers() -> None:
    rules = GameRules(max_plies=20, adjudicate=False)
    opening = load_openings("start")[0]
    game = play_game(Blunderer(), RandomPlayer(seed=1), opening, rules, None, seed=5)
    assert game.headers["Termination"] == "ply_cap" and game.headers["Result"] == "1/2-1/2"
    assert int(game.headers["WhiteForfeits"]) == 10 and int(game.headers["BlackForfeits"]) == 0
    replayed = chess.pgn.read_game(io.StringIO(str(game)))
    assert len(list(replayed.mainline_moves())) == 20


@pytest.mark.stockfish
def test_adjudication_ends_lopsided_games_and_writes_the_rules() -> None:
    rules = GameRules(max_plies=200, adjudication_nodes=500)
    from bench.games import Adjudicator

    adjudicator = Adjudicator(500)
    try:
        with StockfishPlayer("sf", EngineSettings(nodes=1000)) as sf:
            game = play_game(sf, RandomPlayer(seed=2), load_openings("default")[0], rules, adjudicator, seed=3)
    finally:
        adjudicator.close()
    assert game.headers["Result"] == "1-0"
    assert game.headers["Termination"] in ("adjudication_win", "checkmate")
    assert game.headers["Rules"] == rules.describe()
    board = game.end().board()
    assert board.ply() == int(game.headers["PlyCount"])


class Killer(StockfishPlayer):
    """Kills its own engine process on its fifth move in the first game it plays: the match must replay."""

    kills = 0
    lock = threading.Lock()

    def play(self, board: chess.Board) -> MoveResult:
        with Killer.lock:
            if Killer.kills == 0 and board.ply() >= 8:
                Killer.kills += 1
                os.kill(self.engine.protocol.transport.get_pid(), signal.SIGKILL)
        return super().play(board)


@pytest.mark.stockfish
def test_engine_dying_mid_game_is_restarted_replayed_and_counted_once() -> None:
    Killer.kills = 0
    openings = load_openings("default")
    specs = paired_specs("killer", "random", openings, 2, seed=9)
    factories = {"killer": lambda: Killer("killer", EngineSettings(nodes=300)), "random": lambda: RandomPlayer()}
    recorded = []
    games, stats = play_match(specs, factories, GameRules(max_plies=60, adjudication_nodes=300), concurrency=2,
                              on_game=lambda spec, game: recorded.append(spec.index), progress=False)
    assert Killer.kills == 1 and stats.engine_restarts == 1 and "replaying" in stats.events[0]
    assert sorted(recorded) == [0, 1, 2, 3] and len(games) == 4  # each game once
    assert all(white_score(g.headers["Result"]) in (0, 0.5, 1) for g in games)


@pytest.mark.stockfish
def test_concurrent_match_returns_games_in_spec_order_with_paired_seeds() -> None:
    openings = load_openings("default")
    specs = paired_specs("sf", "random", openings, 3, seed=4)
    factories = {"sf": lambda: StockfishPlayer("sf", EngineSettings(nodes=200, epsilon=0.5)),
                 "random": lambda: RandomPlayer()}
    rules = GameRules(max_plies=80, adjudication_nodes=200)
    first, _ = play_match(specs, factories, rules, concurrency=2, progress=False)
    second, _ = play_match(specs, factories, rules, concurrency=1, progress=False)
    assert [g.headers["GameIndex"] for g in first] == [str(s.index) for s in specs]
    # seeded ε-mixing, seeded random mover and node-limited Stockfish: the same games whatever the concurrency
    assert [str(g.mainline_moves()) for g in first] == [str(g.mainline_moves()) for g in second]
