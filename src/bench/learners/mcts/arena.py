"""Learning checks without the harness: a tiny match loop against the random mover, and a material probe.

Games alternate colours, stop at a ply cap and are then scored by material (the side ahead by `margin` pawns wins,
else a draw); games played to mate against the random mover are `benchmarks/conversion.py`'s job. The probe asks
whether a value head has learned material: the correlation of its values with the sign of the mover's material over
positions of random play.
"""

from __future__ import annotations

from typing import Any

import chess
import numpy as np

from bench.learners.mcts.selfplay import adjudicate, material
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


def random_positions(n: int, seed: int) -> tuple[list[chess.Board], np.ndarray]:
    """`n` positions after 10-59 uniformly random plies (games not over) and the sign of the mover's material."""
    rng = np.random.default_rng(seed)
    boards, signs = [], []
    while len(boards) < n:
        board = chess.Board()
        for _ in range(int(rng.integers(10, 60))):
            moves = list(board.legal_moves)
            if not moves:
                break
            board.push(moves[rng.integers(len(moves))])
        if board.is_game_over():
            continue
        boards.append(board)
        signs.append(np.sign(material(board) * (1 if board.turn == chess.WHITE else -1)))
    return boards, np.array(signs, dtype=np.float64)


def material_correlation(net: Any, planes: Any, signs: np.ndarray) -> float:
    """Pearson correlation of `net`'s values (expected score for the mover) on `planes` with material `signs`."""
    import torch

    from bench.network import value_to_scalar

    net.eval()
    with torch.no_grad():
        values = value_to_scalar(net(planes)[1], net.value_head).double().cpu().numpy()
    return float(np.corrcoef(values, signs)[0, 1])
