"""Reading moves out of answers: SAN, UCI, check marks, chatter, castling, promotion, and the reasons for failure."""

from __future__ import annotations

import chess
import pytest

from bench.learners.icl.parsing import parse_move

START = chess.Board()


@pytest.mark.parametrize(
    "answer, uci",
    [
        ("e4", "e2e4"),
        ("Nf3", "g1f3"),
        ("e2e4", "e2e4"),
        ("e2-e4", "e2e4"),
        ("1. e4", "e2e4"),
        ("Nf3+", "g1f3"),
        ("Nf3!?", "g1f3"),
        ("My move is **Nf3**.", "g1f3"),
        ("I will play nf3 because it develops.", "g1f3"),
        ("Move: `d4`", "d2d4"),
        ("g1f3", "g1f3"),
        ("I play Nf3.", "g1f3"),
        ("e4.", "e2e4"),
        ("1.e4", "e2e4"),
    ],
)
def test_start_position_answers(answer: str, uci: str) -> None:
    parsed = parse_move(answer, START)
    assert parsed.move == chess.Move.from_uci(uci), parsed
    assert parsed.reason == ""


def test_castling_check_mate_marks_and_promotion() -> None:
    castle = chess.Board("r3k2r/8/8/8/8/8/8/R3K2R w KQkq - 0 1")
    assert parse_move("O-O", castle).move == chess.Move.from_uci("e1g1")
    assert parse_move("0-0-0!", castle).move == chess.Move.from_uci("e1c1")
    assert parse_move("I castle: O-O-O+", castle).move == chess.Move.from_uci("e1c1")
    promo = chess.Board("8/4P3/8/8/8/8/k7/7K w - - 0 1")
    for answer in ("e8=Q", "e8=Q+", "e8Q", "e7e8q", "e7e8"):
        assert parse_move(answer, promo).move == chess.Move.from_uci("e7e8q"), answer
    assert parse_move("e8=N", promo).move == chess.Move.from_uci("e7e8n")
    mate = chess.Board("6k1/5ppp/8/8/8/8/8/R6K w - - 0 1")
    assert parse_move("Ra8#", mate).move == chess.Move.from_uci("a1a8")


def test_black_move_after_move_number_dots() -> None:
    board = chess.Board()
    board.push_san("e4")
    assert parse_move("1... e5", board).move == chess.Move.from_uci("e7e5")
    assert parse_move("1...Nf6", board).move == chess.Move.from_uci("g8f6")


def test_first_legal_move_wins_over_later_ones() -> None:
    assert parse_move("e4, or maybe d4", START).move == chess.Move.from_uci("e2e4")
    # an illegal move first, then a legal one: the legal one is taken
    assert parse_move("Qh5? no: Nc3", START).move == chess.Move.from_uci("b1c3")


@pytest.mark.parametrize(
    "answer, fragment",
    [
        ("", "empty"),
        ("   ", "empty"),
        ("I am not sure what to do here", "no move found"),
        ("Ke2", "Ke2 is not legal"),
        ("e2e5", "e2e5 is not legal"),
        ("Qxf7#", "not legal"),
    ],
)
def test_failures_say_why(answer: str, fragment: str) -> None:
    parsed = parse_move(answer, START)
    assert parsed.move is None
    assert fragment in parsed.reason


def test_ambiguous_san_is_explained_and_disambiguated_san_works() -> None:
    board = chess.Board("k7/8/8/8/8/8/8/KN3N2 w - - 0 1")
    parsed = parse_move("Nd2", board)
    assert parsed.move is None and "ambiguous" in parsed.reason
    assert parse_move("Nbd2", board).move == chess.Move.from_uci("b1d2")
    assert parse_move("Nfd2", board).move == chess.Move.from_uci("f1d2")


def test_pawn_b_file_capture_is_not_a_bishop() -> None:
    board = chess.Board("4k3/8/8/8/2p5/1P6/8/4K3 w - - 0 1")
    assert parse_move("bxc4", board).move == chess.Move.from_uci("b3c4")
