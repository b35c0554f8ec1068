"""Static exchange evaluation: what a capture wins once every recapture on its square is played out. Pure.

The `capture` verifier and task family (seed claim 2's second chess family, issue 19) ask for a move that wins
material, judged by the rules alone: the move's capture (and promotion), less what the opponent then wins by the
best sequence of recaptures on the same square, each side recapturing with its least valuable piece and free to
stop when going on would lose (the swap algorithm of chess programs; e.g. the Chess Programming Wiki's "Static
Exchange Evaluation"). Recaptures are legal moves of the position reached, so pins, checks and pieces that
uncover an attack on the square (x-rays) are counted as they are. Threats elsewhere on the board are not: a capture
that wins a knight but leaves the queen hanging still "wins a knight" here. That is the definition, stated wherever
the family is named.
"""

from __future__ import annotations

import chess

PIECE_VALUES = {chess.PAWN: 1, chess.KNIGHT: 3, chess.BISHOP: 3, chess.ROOK: 5, chess.QUEEN: 9, chess.KING: 0}
"""Pawns per piece (1/3/3/5/9): the scale of every rlvr material count (`verifiers.material` imports it)."""


def captured_value(board: chess.Board, move: chess.Move) -> int:
    """Material `move` takes off the board at once: the captured piece (a pawn for en passant) plus a promotion's
    gain over the pawn."""
    gain = 0
    if board.is_en_passant(move):
        gain = PIECE_VALUES[chess.PAWN]
    else:
        victim = board.piece_type_at(move.to_square)
        if victim is not None:
            gain = PIECE_VALUES[victim]
    if move.promotion:
        gain += PIECE_VALUES[move.promotion] - PIECE_VALUES[chess.PAWN]
    return gain


def _best_recapture(board: chess.Board, square: chess.Square) -> int:
    """What the side to move wins by recapturing on `square` and letting the exchange run on (0: it stops)."""
    attackers = [m for m in board.legal_moves
                 if m.to_square == square and m.promotion in (None, chess.QUEEN)]
    if not attackers:
        return 0
    cheapest = min(attackers, key=lambda m: (PIECE_VALUES[board.piece_type_at(m.from_square)], m.uci()))
    gain = captured_value(board, cheapest)
    board.push(cheapest)
    try:
        gain -= _best_recapture(board, square)
    finally:
        board.pop()
    return max(0, gain)


def static_exchange(board: chess.Board, move: chess.Move) -> int:
    """Material the side to move wins by `move` once the exchange on its square is played out (module docstring).
    Negative when the move loses material (a defended piece taken by a more valuable one); 0 for a quiet move
    that nothing can take."""
    work = board.copy(stack=False)
    gain = captured_value(work, move)
    work.push(move)
    return gain - _best_recapture(work, move.to_square)


def winning_moves(board: chess.Board, min_gain: int) -> list[chess.Move]:
    """Legal moves that win at least `min_gain` pawns by static exchange, or mate at once."""
    out = []
    for move in board.legal_moves:
        if board.is_capture(move) or move.promotion:
            if static_exchange(board, move) >= min_gain:
                out.append(move)
                continue
        board.push(move)
        mate = board.is_checkmate()
        board.pop()
        if mate:
            out.append(move)
    return out


__all__ = ["PIECE_VALUES", "captured_value", "static_exchange", "winning_moves"]
