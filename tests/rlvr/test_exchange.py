"""Static exchange evaluation and the `capture` verifier on positions with known answers (claim 2's second chess
family, issue 19), and the committed capture task file re-checked by the rules."""

from __future__ import annotations

import chess
import pytest

from bench.config import CONF_DIR
from bench.learners.rlvr.exchange import static_exchange, winning_moves
from bench.learners.rlvr.make_tasks import capture_positions
from bench.learners.rlvr.sources import mating_moves
from bench.learners.rlvr.tasks import load_task_file
from tests.rlvr.test_verifiers import STALEMATE_TRAP, finished, rules_only

DEFAULTS = {"verifier": "capture", "horizon": 1, "opponent": "random", "generator": "capture"}
DEFENDED_KNIGHT = "4k3/8/4p3/3n4/8/8/8/3QK3 w - - 0 1"


@pytest.mark.parametrize("fen, san, gain", [
    ("4k3/8/8/3n4/8/8/8/3QK3 w - - 0 1", "Qxd5", 3),            # a free knight
    (DEFENDED_KNIGHT, "Qxd5", 3 - 9),                            # the queen takes a defended knight and is lost
    ("4k3/8/4p3/3n4/4P3/8/8/4K3 w - - 0 1", "exd5", 3 - 1),     # a pawn for a knight
    ("4k3/3r4/3r4/8/8/8/3R4/3RK3 w - - 0 1", "Rxd6", 5),         # Rxd6 Rxd6 Rxd6: the rook behind counts (x-ray)
    ("3rk3/3r4/8/3p4/8/8/3R4/3RK3 w - - 0 1", "Rxd5", 1 - 5),    # the pawn has two defenders: it costs a rook
    ("4k3/8/8/3p4/4P3/8/8/4K3 w - - 0 1", "exd5", 1),           # a free pawn
    ("4k3/8/8/3pP3/8/8/8/4K3 w - d6 0 1", "exd6", 1),           # en passant
    ("3rk3/2P5/8/8/8/8/8/4K3 w - - 0 1", "cxd8=Q+", 5 + 8 - 9),  # rook and promotion, the new queen taken
    ("4k3/8/8/8/8/8/8/3QK3 w - - 0 1", "Qd5", 0),               # a quiet move nothing attacks
    ("4k3/8/8/8/8/8/8/3Q1K2 w - - 0 1", "Qe1", 0),              # a quiet move next to its own king
    ("8/8/8/8/8/8/3k4/3Q2K1 w - - 0 1", "Qe2+", -9),            # the queen put where the king takes it
])
def test_static_exchange_known_answers(fen: str, san: str, gain: int) -> None:
    board = chess.Board(fen)
    assert static_exchange(board, board.parse_san(san)) == gain


def test_a_pinned_defender_does_not_recapture() -> None:
    # the e6 pawn defends d5 but is pinned to its king by the rook on e1: Qxd5 wins the knight outright
    board = chess.Board("4k3/8/4p3/3n4/8/8/8/3QR1K1 w - - 0 1")
    assert static_exchange(board, board.parse_san("Qxd5")) == 3
    assert static_exchange(chess.Board(DEFENDED_KNIGHT), chess.Board(DEFENDED_KNIGHT).parse_san("Qxd5")) == -6


def test_winning_moves_include_mates_and_skip_losing_captures() -> None:
    board = chess.Board(STALEMATE_TRAP)
    sans = {board.san(m) for m in winning_moves(board, 2)}
    assert "Qg7#" in sans and "Qg6" not in sans and all(san.endswith("#") for san in sans)
    assert winning_moves(chess.Board(DEFENDED_KNIGHT), 2) == []


def test_capture_verifier_judges_the_learners_move_by_the_rules() -> None:
    free_queen = "4k3/8/8/3q4/8/8/3R4/4K3 w - - 0 1"
    v = rules_only()
    rewards, calls = v.score([
        finished(free_queen, ["Rxd5"], "capture"),
        finished(free_queen, ["Rd4"], "capture"),
        finished(DEFENDED_KNIGHT, ["Qxd5"], "capture"),
        finished("4k3/8/4p3/3n4/4P3/8/8/4K3 w - - 0 1", ["exd5"], "capture"),            # wins 2: enough
        finished("4k3/8/4p3/3n4/4P3/8/8/4K3 w - - 0 1", ["exd5"], "capture", min_gain=3),  # not enough
        finished(STALEMATE_TRAP, ["Qg7#"], "capture"),
    ])
    assert rewards == [1.0, 0.0, 0.0, 1.0, 0.0, 1.0] and calls == 0
    assert not v.engines._engines


def test_committed_capture_set_is_correct_by_the_rules() -> None:
    tasks = load_task_file(CONF_DIR / "tasks" / "capture.epd", DEFAULTS)
    assert len(tasks) == 600
    for task in tasks:
        board = task.board()
        assert task.verifier == "capture" and task.horizon == 1
        assert sorted(m.uci() for m in winning_moves(board, 2)) == sorted(task.answers)
        assert not mating_moves(board)
        assert any(board.is_capture(m) and m.uci() not in task.answers for m in board.legal_moves)


def test_capture_generator_is_reproducible_by_seed() -> None:
    a, b, c = capture_positions(6, seed=3), capture_positions(6, seed=3), capture_positions(6, seed=4)
    assert [x.epd() for x, _ in a] == [x.epd() for x, _ in b] != [x.epd() for x, _ in c]
