"""Known-answer tests of the C move generator `bench._movegen`: perft counts, python-chess's moves and order on
random and hand-made positions, the policy indices of `bench.encoding`, and the python-chess fallback."""

from __future__ import annotations

import random
import subprocess
import sys

import chess
import chess.variant
import numpy as np
import pytest

from bench import encoding
from bench.encoding import legal_moves, legal_moves_and_indices, legal_moves_indices_check, move_to_index

# chessprogramming.org "Perft Results": the start position, Kiwipete, and positions 3, 4 and 5.
PERFT = [
    (chess.STARTING_FEN, [20, 400, 8902]),
    ("r3k2r/p1ppqpb1/bn2pnp1/3PN3/1p2P3/2N2Q1p/PPPBBPPP/R3K2R w KQkq - 0 1", [48, 2039, 97862]),
    ("8/2p5/3p4/KP5r/1R3p1k/8/4P1P1/8 w - - 0 1", [14, 191, 2812, 43238]),
    ("r3k2r/Pppp1ppp/1b3nbN/nP6/BBP1P3/q4N2/Pp1P2PP/R2Q1RK1 w kq - 0 1", [6, 264, 9467]),
    ("rnbq1k1r/pp1Pbppp/2p5/8/2B5/8/PPP1NnPP/RNBQK2R w KQ - 1 8", [44, 1486, 62379]),
]

HAND_MADE = [
    "8/8/8/KPp4r/8/8/8/7k w - c6 0 2",  # bxc6 e.p. would expose the king along the rank: illegal
    "7K/8/8/8/R3pP1k/8/8/8 b - f3 0 1",  # the same for Black
    "8/8/8/1k6/2Pp4/8/8/5B1K b - c3 0 1",  # dxc3 e.p. would open the bishop's diagonal: illegal
    "8/8/8/2k5/3Pp3/8/8/4K3 b - d3 0 1",  # exd3 e.p. captures the checking pawn
    "8/8/3k4/8/2pP4/8/8/3RK3 b - d3 0 1",  # the c4 pawn may take e.p. although the d4 pawn shields a rook
    "4r1k1/8/8/8/8/3n4/8/4K3 w - - 0 1",  # double check: only king moves
    "r3k2r/8/8/8/8/8/6b1/R3K2R w KQkq - 0 1",  # O-O passes the attacked f1: illegal; O-O-O legal
    "1r2k2r/8/8/8/8/8/8/R3K2R w KQk - 0 1",  # b1 attacked: O-O-O still legal
    "r3k2r/8/8/8/4r3/8/8/R3K2R w KQkq - 0 1",  # in check: no castling
    "r3k2r/8/8/8/6r1/8/8/R3K2R w KQkq - 0 1",  # O-O lands on the attacked g1: illegal
    "r3k2r/8/8/8/8/8/8/RN2K1NR w KQkq - 0 1",  # blocked on both sides
    "r3k2r/8/8/8/8/8/8/R3K2R b KQkq - 0 1",
    "4k3/8/8/8/1b6/8/3N4/4K3 w - - 0 1",  # the d2 knight is pinned
    "8/1P4k1/8/8/8/8/6p1/K7 w - - 0 1",  # promotions for White ...
    "8/1P4k1/8/8/8/8/6p1/K7 b - - 0 1",  # ... and for Black
    "1n4k1/P7/8/8/8/8/7p/K5N1 w - - 0 1",  # promotion by capture both ways
    "1n4k1/P7/8/8/8/8/7p/K5N1 b - - 0 1",
    "3r3k/8/8/8/8/8/3P4/3K4 w - - 0 1",  # a pinned pawn may push along the pin
    "k7/8/8/8/8/8/1q6/K7 w - - 0 1",  # the checker next to the king is taken by it
    "7k/8/8/8/8/8/8/K6r w - - 0 1",  # the king may not step along the checking ray
    "R5k1/5ppp/8/8/8/8/8/6K1 b - - 1 1",  # mated
    "7k/5Q2/6K1/8/8/8/8/8 b - - 0 1",  # stalemate
    "R6R/3Q4/1Q4Q1/4Q3/2Q4Q/Q4Q2/pp1Q4/kBNN1KB1 w - - 0 1",  # 218 moves, the most of any reachable position
    "QQQQQQQk/Q6Q/Q6Q/Q3Q2Q/Q6Q/Q6Q/Q6Q/KQQQQQQQ w - - 0 1",  # 279: unreachable, but a FEN can set it up
]


def native(board: chess.Board) -> tuple[list[chess.Move], np.ndarray, bool]:
    out = encoding._native(board)
    assert out is not None, board.fen()
    return out[0], np.frombuffer(out[1], dtype=np.int64), out[2]


def perft(board: chess.Board, depth: int) -> int:
    moves = native(board)[0]
    if depth == 1:
        return len(moves)
    count = 0
    for move in moves:
        board.push(move)
        count += perft(board, depth - 1)
        board.pop()
    return count


def random_positions(count: int, seed: int) -> list[chess.Board]:
    """Positions of random games (both colours, promotions, en passant, castling, checks), some with their
    move stack and some copied without it."""
    rng = random.Random(seed)
    boards = [chess.Board(fen) for fen in HAND_MADE]
    while len(boards) < count:
        board = chess.Board()
        for ply in range(rng.randrange(20, 300)):
            moves = list(board.legal_moves)
            if not moves:
                break
            pawn_pushes = [m for m in moves if board.piece_type_at(m.from_square) == chess.PAWN]
            board.push(rng.choice(pawn_pushes if pawn_pushes and rng.random() < 0.3 else moves))
            if ply % 3 == 0 or board.is_game_over():
                boards.append(board.copy(stack=bool(ply % 2)))
    return boards[:count]


def test_extension_is_built() -> None:
    assert encoding._movegen is not None, "bench._movegen did not import: run pip install -e ."


@pytest.mark.parametrize("fen,counts", PERFT, ids=["start", "kiwipete", "position3", "position4", "position5"])
def test_perft(fen: str, counts: list[int]) -> None:
    board = chess.Board(fen)
    assert [perft(board, depth) for depth in range(1, len(counts) + 1)] == counts


def test_same_moves_order_indices_and_check_as_python_chess() -> None:
    kinds = {"en_passant": 0, "castling": 0, "underpromotion": 0, "check": 0, "black": 0, "no_moves": 0}
    for board in random_positions(4000, seed=0):
        moves, indices, check = native(board)
        assert moves == encoding._python_legal_moves(board), board.fen()  # same list, same order
        assert set(moves) == set(board.legal_moves) and len(set(moves)) == len(moves), board.fen()
        assert indices.tolist() == [move_to_index(m, board.turn) for m in moves], board.fen()
        assert check == board.is_check(), board.fen()
        kinds["en_passant"] += any(board.is_en_passant(m) for m in moves)
        kinds["castling"] += any(board.is_castling(m) for m in moves)
        kinds["underpromotion"] += any(m.promotion not in (None, chess.QUEEN) for m in moves)
        kinds["check"] += check
        kinds["black"] += board.turn == chess.BLACK
        kinds["no_moves"] += not moves
    assert all(v >= 10 for v in kinds.values()), kinds


def test_public_functions_use_the_extension() -> None:
    board = chess.Board("r3k2r/p1ppqpb1/bn2pnp1/3PN3/1p2P3/2N2Q1p/PPPBBPPP/R3K2R w KQkq - 0 1")
    moves, indices = legal_moves_and_indices(board)
    assert moves == legal_moves(board) == native(board)[0]
    assert indices.dtype == np.int64 and indices.flags.writeable
    assert legal_moves_indices_check(board)[2] is False
    assert legal_moves_indices_check(chess.Board("4r1k1/8/8/8/8/3n4/8/4K3 w - - 0 1"))[2] is True
    board.push(moves[0])  # the shared Move objects push like any other
    assert len(board.move_stack) == 1


@pytest.mark.parametrize(
    "board",
    [
        chess.Board("bqnb1rkr/pp3ppp/3ppn2/2p5/5P2/P2P4/NPP1P1PP/BQ1BNRKR w HFhf - 2 9", chess960=True),
        chess.Board("8/8/8/8/8/8/4P3/8 w - - 0 1"),  # no king
        chess.Board("4k3/8/8/8/8/8/8/3KK3 w - - 0 1"),  # two kings
        chess.variant.AtomicBoard(),
    ],
    ids=["chess960", "no-king", "two-kings", "atomic"],
)
def test_other_boards_fall_back_to_python_chess(board: chess.Board) -> None:
    assert encoding._native(board) is None
    assert set(legal_moves(board)) == set(board.legal_moves)


def test_fallback_gives_the_same_moves(monkeypatch: pytest.MonkeyPatch) -> None:
    boards = random_positions(300, seed=1)
    expected = [(legal_moves(b), legal_moves_indices_check(b)[1].tolist()) for b in boards]
    monkeypatch.setattr(encoding, "_movegen", None)
    for board, (moves, indices) in zip(boards, expected):
        got_moves, got_indices, check = legal_moves_indices_check(board)
        assert got_moves == moves and got_indices.tolist() == indices, board.fen()
        assert legal_moves(board) == moves and check == board.is_check()


def test_missing_extension_warns_once_and_falls_back() -> None:
    code = (
        "import sys, chess\n"
        "sys.modules['bench._movegen'] = None\n"  # makes `from bench import _movegen` raise ImportError
        "import bench.encoding as e\n"
        "assert e._movegen is None\n"
        "b = chess.Board()\n"
        "assert set(e.legal_moves(b)) == set(b.legal_moves) and len(e.legal_moves_and_indices(b)[1]) == 20\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.count("bench._movegen unavailable") == 1, proc.stderr
