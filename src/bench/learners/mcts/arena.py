"""Learning checks without the harness: tiny match loops against the random mover, and a material probe.

`wins_vs_random` plays games to mate by the rules of chess (the default rule set `mate`, through
`bench.games.play_game`, with a shorter ply cap) and counts how they end: what the learning tests assert.
`score_vs_random` plays capped games scored by material (the side ahead by `margin` pawns wins, else a draw), the
older and looser check. The probe asks whether a value head has learned material: the correlation of its values
with the sign of the mover's material over positions of random play.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import chess
import numpy as np

from bench.games import GameRules, Opening, play_game, white_score
from bench.learners.mcts.selfplay import adjudicate, material
from bench.players import Player, RandomPlayer


def wins_vs_random(player: Player, games: int, seed: int = 0, max_plies: int = 200, opening_plies: int = 4) -> Counter:
    """How `player`'s games against the random mover end, played to mate: counts of `win` (checkmate by the
    player), `loss`, and each draw's termination (stalemate, threefold_repetition, fifty_moves,
    insufficient_material, ply_cap). Pairs of games share `opening_plies` random opening moves, colours swapped;
    the same seeds give the same openings and random moves to every player."""
    rules = GameRules(name="mate", max_plies=max_plies, adjudicate=False, at_ply_cap="draw")
    out: Counter = Counter()
    for g in range(games):
        rng = np.random.default_rng([seed, g // 2])
        board = chess.Board()
        while board.ply() < opening_plies or board.is_game_over():
            if board.is_game_over():
                board = chess.Board()
            moves = list(board.legal_moves)
            board.push(moves[int(rng.integers(len(moves)))])
        opening = Opening(f"random{opening_plies}", tuple(board.move_stack))
        rnd = RandomPlayer(seed=seed * 100_003 + g)
        swap = g % 2 == 1
        game = play_game(rnd if swap else player, player if swap else rnd, opening, rules, seed=seed * 100_003 + g)
        score = white_score(game.headers["Result"])
        score = 1.0 - score if swap else score
        out["win" if score == 1.0 else "loss" if score == 0.0 else game.headers["Termination"]] += 1
    return out


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
