"""Engine feedback on a finished training game: the model's worst moves, the best move, the evaluation drop.

For each position where the model moved, Stockfish analyses the position (score and best move) and, when the
model did not play the best move, the position after the model's move. The drop is best score minus the score
after the played move, from the model's side, in centipawns (mate scores as 10,000). Each analysis is one
verifier call.
"""

from __future__ import annotations

import chess
import chess.engine

from bench.learners.icl.memory import Mistake

MATE_CP = 10_000


def _after_score(engine: chess.engine.SimpleEngine, board: chess.Board, color: chess.Color,
                 limit: chess.engine.Limit) -> tuple[int, int]:
    """(score for `color` after the move just pushed, analyses used); finished games are scored by the rules."""
    outcome = board.outcome(claim_draw=True)
    if outcome is not None:
        if outcome.winner is None:
            return 0, 0
        return (MATE_CP if outcome.winner == color else -MATE_CP), 0
    info = engine.analyse(board, limit)
    return info["score"].pov(color).score(mate_score=MATE_CP), 1


def worst_moves(engine: chess.engine.SimpleEngine, moves: list[chess.Move], color: chess.Color, nodes: int,
                count: int, min_drop_cp: int, start: chess.Board | None = None) -> tuple[list[Mistake], int]:
    """The model's `count` costliest moves (worst first) of the game `moves` played from `start`, and the number
    of engine analyses used."""
    board = (start or chess.Board()).copy()
    limit = chess.engine.Limit(nodes=nodes)
    found: list[Mistake] = []
    calls = 0
    key = object()
    for ply, move in enumerate(moves):
        if board.turn == color:
            info = engine.analyse(board, limit, game=key)
            calls += 1
            best_move = info["pv"][0] if info.get("pv") else move
            best = info["score"].pov(color).score(mate_score=MATE_CP)
            if move != best_move:
                number = f"{board.fullmove_number}." if board.turn == chess.WHITE else f"{board.fullmove_number}..."
                played_san, best_san = board.san(move), board.san(best_move)
                board.push(move)
                after, used = _after_score(engine, board, color, limit)
                calls += used
                drop = best - after
                if drop >= min_drop_cp:
                    found.append(Mistake(ply, number, played_san, best_san, int(drop)))
                continue
        board.push(move)
    found.sort(key=lambda m: (-m.drop_cp, m.ply))
    return found[:count], calls


__all__ = ["MATE_CP", "worst_moves"]
