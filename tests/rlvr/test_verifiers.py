"""Every verifier on positions with known answers: a mate in one, a stalemate trap, a won endgame, a free queen."""

from __future__ import annotations

import chess
import pytest

from bench.learners.rlvr.config import GeneratorConfig
from bench.learners.rlvr.tasks import Task
from bench.learners.rlvr.verifiers import EnginePool, Finished, Verifiers, material, win_probability

STALEMATE_TRAP = "7k/5K2/8/6Q1/8/8/8/8 w - - 0 1"  # Qg6 stalemates, Qg7# mates
FREE_QUEEN = "4k3/8/8/3q4/8/8/3R4/4K3 w - - 0 1"  # Rxd5 wins the queen


def finished(fen: str, sans: list[str], verifier: str, **params: object) -> Finished:
    start = chess.Board(fen)
    end = start.copy()
    for san in sans:
        end.push_san(san)
    task = Task(fen=start.fen(), verifier=verifier, horizon=1, opponent="random", generator="g")
    learner_moves = (len(sans) + 1) // 2
    return Finished(task, GeneratorConfig(verifier=verifier, **params), start, end, start.turn, learner_moves)


def rules_only() -> Verifiers:
    return Verifiers(EnginePool(1))  # no engine process starts unless a verifier asks for one


def test_mate_verifier_by_the_rules() -> None:
    v = rules_only()
    rewards, calls = v.score([
        finished(STALEMATE_TRAP, ["Qg7#"], "mate"),
        finished(STALEMATE_TRAP, ["Qg6"], "mate"),
        finished(STALEMATE_TRAP, ["Qd8+"], "mate"),
        finished("6k1/5ppp/8/8/8/8/5PPP/R5K1 w - - 0 1", ["Ra8#"], "mate"),
    ])
    assert rewards == [1.0, 0.0, 0.0, 1.0] and calls == 0
    # mate delivered too late for mate_in=1 does not count
    late = finished("6k1/5ppp/8/8/8/8/5PPP/R5K1 w - - 0 1", ["Kf1", "h6", "Ra8#"], "mate")
    assert v.score([late])[0] == [0.0]
    assert not v.engines._engines


def test_result_verifier_stalemate_is_a_draw_and_mate_a_win() -> None:
    v = rules_only()
    rewards, calls = v.score([finished(STALEMATE_TRAP, ["Qg6"], "result"), finished(STALEMATE_TRAP, ["Qg7#"], "result")])
    assert rewards == [0.5, 1.0] and calls == 0


def test_material_counts_and_rules_only_gain() -> None:
    board = chess.Board(FREE_QUEEN)
    assert material(board, chess.WHITE) == 5 - 9
    v = rules_only()
    grab = finished(FREE_QUEEN, ["Rxd5", "Ke7"], "material", confirm_nodes=0, target_gain=9.0)
    quiet = finished(FREE_QUEEN, ["Rd4", "Qxd4"], "material", confirm_nodes=0)
    assert v.score([grab, quiet]) == ([1.0, 0.0], 0)


def test_win_probability_is_a_monotone_logistic() -> None:
    assert win_probability(0) == pytest.approx(0.5)
    assert win_probability(400) == pytest.approx(1 / (1 + 2.718281828 ** (-0.00368208 * 400)), rel=1e-6)
    assert win_probability(10_000) > 0.999 and win_probability(-10_000) < 0.001


@pytest.mark.stockfish
def test_engine_verifiers_on_known_positions() -> None:
    v = Verifiers(EnginePool(1))
    try:
        won = finished("7k/8/5K2/8/8/8/8/3Q4 w - - 0 1", ["Qd7", "Kg8"], "result", at_horizon="adjudicate")
        lost_side = finished("7k/8/5K2/8/8/8/8/r2q4 w - - 0 1", ["Ke5", "Kg8"], "result", at_horizon="adjudicate")
        grab = finished(FREE_QUEEN, ["Rxd5", "Ke7"], "material", confirm_nodes=500)
        doubted = finished(FREE_QUEEN, ["Rxd5", "Ke7"], "material", confirm_nodes=500, confirm_fraction=100.0)
        good = finished(FREE_QUEEN, ["Rxd5"], "eval", eval_nodes=500)
        bad = finished(FREE_QUEEN, ["Rd1"], "eval", eval_nodes=500)
        rewards, calls = v.score([won, lost_side, grab, doubted, good, bad])
        assert rewards[:4] == [1.0, 0.0, 1.0, 0.0]
        assert rewards[4] > 0.8 and rewards[5] < 0.5  # a rook up vs the exchange down
        # won, lost, the end of grab and doubted (one position), good, bad: one call per distinct position
        assert calls == 5
    finally:
        v.close()
