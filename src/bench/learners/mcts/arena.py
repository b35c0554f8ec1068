"""A tiny match loop for learning checks without the harness: a player against the random mover.

Games alternate colours, stop at a ply cap and are then scored by material (the side ahead by `margin`
pawns wins, else a draw); the harness's own games (Stockfish adjudication, PGN) live in `bench.games`.
"""

from __future__ import annotations

import chess

from bench.learners.mcts.selfplay import adjudicate
from bench.players import Player, RandomPlayer


def play_one(white: Player, black: Player, max_plies: int, margin: int) -> float:
    """White's result (+1, 0, -1) of one game."""
    board = chess.Board()
    while board.ply() < max_plies:
        outcome = board.outcome(claim_draw=board.halfmove_clock >= 8)
        if outcome is not None:
            return 0.0 if outcome.winner is None else (1.0 if outcome.winner == chess.WHITE else -1.0)
        mover = white if board.turn == chess.WHITE else black
        board.push(mover.play(board).move)
    outcome = board.outcome(claim_draw=True)
    if outcome is not None:
        return 0.0 if outcome.winner is None else (1.0 if outcome.winner == chess.WHITE else -1.0)
    return adjudicate(board, "material", margin)


def score_vs_random(player: Player, games: int, seed: int = 0, max_plies: int = 120, margin: int = 3) -> float:
    """`player`'s mean score in [0, 1] over `games` games against the random mover, colours alternating."""
    total = 0.0
    for g in range(games):
        rnd = RandomPlayer(seed=seed * 100_003 + g)
        player.new_game(seed * 100_003 + g)
        if g % 2 == 0:
            result = play_one(player, rnd, max_plies, margin)
        else:
            result = -play_one(rnd, player, max_plies, margin)
        total += (result + 1) / 2
    return total / games
