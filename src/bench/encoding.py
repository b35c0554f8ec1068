"""Board planes and the 4,672-move index shared by every learner that uses a network.

Follows AlphaZero (Silver et al. 2018, "A general reinforcement learning algorithm that masters chess, shogi
and Go through self-play", supplementary Table S1), with one position of history instead of eight:

* Planes, always from the side to move's view (the board is flipped vertically when Black moves, so the
  mover's pieces start at the bottom): 6 planes of the mover's pieces (P N B R Q K), 6 of the opponent's,
  2 repetition planes (the position occurred once / twice before), a colour plane (1 when Black moves),
  4 castling planes (mover kingside, mover queenside, opponent kingside, opponent queenside), the no-progress
  count (halfmove clock / 100), and an en-passant plane (the target square; with no history it is the
  only way the net can see that right). `NUM_PLANES = 21`.
* Moves: 73 planes x 64 from-squares, index = plane * 64 + from_square (the flattening of a [73, 8, 8]
  convolution output). Planes 0-55 are queen-like moves (8 directions x distances 1-7; queen promotions
  included), 56-63 knight moves, 64-72 underpromotions (knight, bishop, rook x capture-left, push,
  capture-right). Squares are in the mover's view, so Black's moves are mirrored.

Planes are built from python-chess bitboards with numpy (`np.unpackbits`), never by looping over squares.
The compact form (`compact_board`) stores those same mover-view bitboards plus one packed word: 14 x uint64 =
112 bytes per position, expanded to float planes in batches (`expand_compact`) by the replay buffer.

Legal moves come from the C extension `bench._movegen` (built by `pip install -e .`): python-chess's rules, the
same moves in the same order as the python-chess path it replaces, some twenty times faster (about 3 us against
60 us a position of 30 moves). Without it (not built), python-chess generates them, after one logged warning.
"""

from __future__ import annotations

import logging
from typing import Iterable, Sequence

import chess
import numpy as np

try:
    from bench import _movegen
except ImportError as error:  # not built: python-chess generates the moves
    _movegen = None
    logging.getLogger(__name__).warning("bench._movegen unavailable (%s); legal moves come from python-chess", error)

NUM_MOVES = 8 * 8 * 73
"""Size of the policy: 73 move planes x 64 from-squares."""
NUM_PLANES = 21
"""Input planes per position (see the module docstring)."""
COMPACT_WORDS = 14
"""uint64 words per position in the compact form: 12 piece bitboards, en passant, packed scalars."""

_PIECES = (chess.PAWN, chess.KNIGHT, chess.BISHOP, chess.ROOK, chess.QUEEN, chess.KING)
# Queen-like directions as (file step, rank step): N, NE, E, SE, S, SW, W, NW.
_DIRECTIONS = ((0, 1), (1, 1), (1, 0), (1, -1), (0, -1), (-1, -1), (-1, 0), (-1, 1))
_KNIGHT = ((1, 2), (2, 1), (2, -1), (1, -2), (-1, -2), (-2, -1), (-2, 1), (-1, 2))
_UNDERPROMOTIONS = (chess.KNIGHT, chess.BISHOP, chess.ROOK)


def _build_tables() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Lookup tables in the mover's view: (from, to) -> index, (from, to, piece) -> underpromotion index,
    and index -> (from, to, underpromotion piece or 0)."""
    plain = np.full((64, 64), -1, dtype=np.int32)
    under = np.full((64, 64, 7), -1, dtype=np.int32)
    decode = np.zeros((NUM_MOVES, 3), dtype=np.int32)
    for sq in range(64):
        f, r = sq % 8, sq // 8
        for d, (df, dr) in enumerate(_DIRECTIONS):
            for dist in range(1, 8):
                tf, tr = f + df * dist, r + dr * dist
                plane = d * 7 + dist - 1
                index = plane * 64 + sq
                decode[index] = (sq, -1, 0)
                if 0 <= tf < 8 and 0 <= tr < 8:
                    plain[sq, tr * 8 + tf] = index
                    decode[index] = (sq, tr * 8 + tf, 0)
        for k, (df, dr) in enumerate(_KNIGHT):
            tf, tr = f + df, r + dr
            index = (56 + k) * 64 + sq
            decode[index] = (sq, -1, 0)
            if 0 <= tf < 8 and 0 <= tr < 8:
                plain[sq, tr * 8 + tf] = index
                decode[index] = (sq, tr * 8 + tf, 0)
        for p, piece in enumerate(_UNDERPROMOTIONS):
            for c, df in enumerate((-1, 0, 1)):
                index = (64 + p * 3 + c) * 64 + sq
                tf, tr = f + df, r + 1
                decode[index] = (sq, -1, 0)
                if r == 6 and 0 <= tf < 8:
                    under[sq, tr * 8 + tf, piece] = index
                    decode[index] = (sq, tr * 8 + tf, piece)
    return plain, under, decode


_PLAIN, _UNDER, _DECODE = _build_tables()
_PLAIN_LIST = _PLAIN.tolist()  # python lists: faster than numpy scalar indexing in per-move loops
_UNDER_LIST = _UNDER.tolist()
_INT64 = np.dtype(np.int64)  # resolved once: np.frombuffer is faster given a dtype object
if _movegen is not None:
    _movegen.init(chess.Move, _PLAIN.tobytes(), _UNDER.tobytes())  # the C generator indexes with these tables


def move_squares() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each policy index's from-square, to-square (its from-square where the move leaves the board) and
    underpromotion column (0 none; 1, 2, 3 knight, bishop, rook), in the mover's view."""
    frm, to, piece = _DECODE[:, 0], _DECODE[:, 1], _DECODE[:, 2]
    to = np.where(to < 0, frm, to)
    column = np.where(piece > 0, piece - 1, 0)
    return frm.astype(np.int64), to.astype(np.int64), column.astype(np.int64)


def move_to_index(move: chess.Move, turn: chess.Color) -> int:
    """Policy index of `move` played by `turn` (Black's moves are mirrored into the mover's view)."""
    frm, to = move.from_square, move.to_square
    if turn == chess.BLACK:
        frm, to = frm ^ 56, to ^ 56
    if move.promotion is not None and move.promotion != chess.QUEEN:
        index = _UNDER_LIST[frm][to][move.promotion]
    else:
        index = _PLAIN_LIST[frm][to]
    if index < 0:
        raise ValueError(f"move {move.uci()} has no policy index")
    return index


def index_to_move(index: int, board: chess.Board) -> chess.Move:
    """The move for policy `index` in `board` (queen promotion when a pawn reaches the last rank).

    The move is not checked for legality; compare with `legal_move_indices` for that.
    """
    frm, to, piece = (int(x) for x in _DECODE[int(index)])
    if to < 0:
        raise ValueError(f"policy index {index} leaves the board")
    if board.turn == chess.BLACK:
        frm, to = frm ^ 56, to ^ 56
    promotion = piece or None
    if promotion is None and to // 8 in (0, 7) and board.piece_type_at(frm) == chess.PAWN:
        promotion = chess.QUEEN
    return chess.Move(frm, to, promotion)


def _native(board: chess.Board) -> tuple[list[chess.Move], bytearray, bool] | None:
    """`bench._movegen.legal` on `board`: (moves, int64 index bytes, in check), or None when python-chess must
    answer (extension not built, chess960 or a variant, or a position the extension leaves alone)."""
    if _movegen is None or board.chess960 or type(board) is not chess.Board:
        return None
    occupied = board.occupied_co
    return _movegen.legal(
        board.pawns, board.knights, board.bishops, board.rooks, board.queens, board.kings,
        occupied[chess.WHITE], occupied[chess.BLACK], board.turn, board.castling_rights, board.ep_square,
    )


def legal_moves(board: chess.Board) -> list[chess.Move]:
    """The legal moves of `board` (the same set as `board.legal_moves`, maybe in another order), faster.

    From `bench._movegen` when built: its `chess.Move` objects are shared between calls, so never mutate them.
    """
    native = _native(board)
    return native[0] if native is not None else _python_legal_moves(board)


def _python_legal_moves(board: chess.Board) -> list[chess.Move]:
    """python-chess's legal moves, in the order the C generator gives them too.

    Out of check and without en passant, only king moves and moves of pinned pieces can be illegal, so
    python-chess's per-move safety test runs on those alone (they come last).
    """
    if board.ep_square is not None or board.is_check():
        return list(board.generate_legal_moves())
    king = board.king(board.turn)
    if king is None:
        return list(board.generate_legal_moves())
    blockers = board._slider_blockers(king)
    risky = blockers | chess.BB_SQUARES[king]
    moves = list(board.generate_pseudo_legal_moves(chess.BB_ALL & ~risky))
    moves.extend(m for m in board.generate_pseudo_legal_moves(risky) if board._is_safe(king, blockers, m))
    return moves


def _python_indices(moves: list[chess.Move], turn: chess.Color) -> np.ndarray:
    """Policy indices of `moves` played by `turn` (int64), as `move_to_index` gives them, in one loop."""
    black = turn == chess.BLACK
    plain, under = _PLAIN_LIST, _UNDER_LIST
    out = []
    for m in moves:
        frm, to = (m.from_square ^ 56, m.to_square ^ 56) if black else (m.from_square, m.to_square)
        promo = m.promotion
        out.append(under[frm][to][promo] if promo is not None and promo != chess.QUEEN else plain[frm][to])
    return np.asarray(out, dtype=np.int64)


def legal_moves_and_indices(board: chess.Board) -> tuple[list[chess.Move], np.ndarray]:
    """The legal moves of `board` (see `legal_moves`) and their policy indices (int64, writable)."""
    moves, indices, _ = legal_moves_indices_check(board)
    return moves, indices


def legal_moves_indices_check(board: chess.Board) -> tuple[list[chess.Move], np.ndarray, bool]:
    """`legal_moves_and_indices` and whether the side to move is in check (`board.is_check()`), in one pass."""
    native = _native(board)
    if native is not None:
        moves, indices, check = native
        return moves, np.frombuffer(indices, _INT64), check
    moves = _python_legal_moves(board)
    return moves, _python_indices(moves, board.turn), board.is_check()


def legal_move_indices(board: chess.Board) -> np.ndarray:
    """Policy indices of the legal moves of `board` (int64, in `legal_moves` order)."""
    return legal_moves_and_indices(board)[1]


def legal_mask(board: chess.Board) -> np.ndarray:
    """Boolean mask over the 4,672 moves: True where the move is legal in `board`."""
    mask = np.zeros(NUM_MOVES, dtype=bool)
    mask[legal_move_indices(board)] = True
    return mask


def repetition_count(board: chess.Board) -> int:
    """How many times the current position occurred before in `board`'s move stack (0, 1 or 2+ capped at 2).

    Walks back only over reversible moves (the halfmove clock), comparing transposition keys, so it costs
    a few pops and pushes rather than python-chess's `can_claim_draw`.
    """
    key = board._transposition_key()
    count = 0
    undone = []
    try:
        for _ in range(min(board.halfmove_clock, len(board.move_stack))):
            undone.append(board.pop())
            if board._transposition_key() == key:
                count += 1
                if count >= 2:
                    break
    finally:
        for move in reversed(undone):
            board.push(move)
    return count


def compact_board(board: chess.Board, repetitions: int | None = None) -> np.ndarray:
    """The compact form of `board`: COMPACT_WORDS uint64 words (mover-view bitboards + packed scalars).

    `repetitions` is how often the position occurred before; computed from the move stack when None.
    Word 12 is the en-passant bitboard; word 13 packs: bit 0 colour (1 = Black to move), bits 1-4 castling
    (mover K, mover Q, opponent K, opponent Q), bits 5-6 repetitions (0-2), bits 8-15 halfmove clock.
    """
    if repetitions is None:
        repetitions = repetition_count(board)
    out = np.empty(COMPACT_WORDS, dtype=np.uint64)
    us, them = board.turn, not board.turn
    occ_us, occ_them = board.occupied_co[us], board.occupied_co[them]
    bbs = (board.pawns, board.knights, board.bishops, board.rooks, board.queens, board.kings)
    flip = us == chess.BLACK
    words = [bb & occ_us for bb in bbs] + [bb & occ_them for bb in bbs]
    ep = 0
    if board.ep_square is not None and board.has_legal_en_passant():
        ep = chess.BB_SQUARES[board.ep_square]
    words.append(ep)
    if flip:
        words = [chess.flip_vertical(w) for w in words]
    cr = board.castling_rights
    home_us = 0 if us == chess.WHITE else 56
    home_them = 56 - home_us
    castling = (
        bool(cr & chess.BB_SQUARES[home_us + 7])
        | bool(cr & chess.BB_SQUARES[home_us]) << 1
        | bool(cr & chess.BB_SQUARES[home_them + 7]) << 2
        | bool(cr & chess.BB_SQUARES[home_them]) << 3
    )
    packed = int(flip) | castling << 1 | min(int(repetitions), 2) << 5 | min(board.halfmove_clock, 255) << 8
    words.append(packed)
    out[:] = words
    return out


def compact_boards(boards: Sequence[chess.Board], repetitions: Sequence[int] | None = None) -> np.ndarray:
    """Compact forms of many boards: uint64 [N, COMPACT_WORDS]."""
    out = np.empty((len(boards), COMPACT_WORDS), dtype=np.uint64)
    for i, board in enumerate(boards):
        out[i] = compact_board(board, None if repetitions is None else repetitions[i])
    return out


def expand_compact(batch: np.ndarray) -> np.ndarray:
    """Float planes [N, NUM_PLANES, 8, 8] from compact rows [N, COMPACT_WORDS] (or one row)."""
    batch = np.atleast_2d(np.asarray(batch, dtype=np.uint64))
    n = batch.shape[0]
    planes = np.zeros((n, NUM_PLANES, 64), dtype=np.float32)
    bits = np.unpackbits(batch[:, :13].copy().view(np.uint8).reshape(n, 13, 8), axis=2, bitorder="little")
    planes[:, :12] = bits[:, :12]
    planes[:, 20] = bits[:, 12]
    packed = batch[:, 13].astype(np.int64)
    planes[:, 12] = ((packed >> 5) & 3)[:, None] >= 1
    planes[:, 13] = ((packed >> 5) & 3)[:, None] >= 2
    planes[:, 14] = (packed & 1)[:, None]
    for k in range(4):
        planes[:, 15 + k] = ((packed >> (1 + k)) & 1)[:, None]
    planes[:, 19] = (((packed >> 8) & 255) / 100.0)[:, None]
    return planes.reshape(n, NUM_PLANES, 8, 8)


def encode_board(board: chess.Board, repetitions: int | None = None) -> np.ndarray:
    """AlphaZero-style float32 planes [NUM_PLANES, 8, 8] of `board` from the mover's view."""
    return expand_compact(compact_board(board, repetitions)[None])[0]


def encode_boards(boards: Iterable[chess.Board], repetitions: Sequence[int] | None = None) -> np.ndarray:
    """Planes [N, NUM_PLANES, 8, 8] of many boards, expanded in one numpy pass."""
    boards = list(boards)
    if not boards:
        return np.zeros((0, NUM_PLANES, 8, 8), dtype=np.float32)
    return expand_compact(compact_boards(boards, repetitions))


__all__ = [
    "COMPACT_WORDS",
    "NUM_MOVES",
    "NUM_PLANES",
    "compact_board",
    "compact_boards",
    "encode_board",
    "encode_boards",
    "expand_compact",
    "index_to_move",
    "legal_mask",
    "legal_move_indices",
    "legal_moves",
    "legal_moves_and_indices",
    "legal_moves_indices_check",
    "move_squares",
    "move_to_index",
    "repetition_count",
]
