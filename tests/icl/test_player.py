"""The icl player with a scripted backend: score mode's choice, retries, forfeits and their accounting."""

from __future__ import annotations

import threading

import chess
import pytest

from bench.learners.icl.player import IclPlayer, PlaySettings, Tally
from bench.learners.icl.prompts import PromptBuilder
from tests.icl.conftest import ScriptedBackend, templates


def player(backend: ScriptedBackend, tally: Tally | None = None, **settings: object) -> IclPlayer:
    return IclPlayer("icl", backend, PromptBuilder(templates()), "HISTORY\n", PlaySettings(**settings),
                     tally or Tally(), seed=1)


def test_score_mode_plays_the_most_likely_legal_move() -> None:
    backend = ScriptedBackend(likelihood={"e4": -3.0, "d4": -1.5, "Nf3": -2.0})
    result = player(backend).play(chess.Board())
    assert result.move == chess.Move.from_uci("d2d4")
    assert not result.forfeit and result.illegal == 0
    assert result.tokens_in == 100 and result.tokens_out == 40  # 20 legal moves x 2 scripted tokens
    assert result.flops == 2 * 1000 * (10 + 40)  # 2 x parameters x tokens run
    assert backend.prompts[0].history == "HISTORY\n"


def test_score_mode_mean_normalisation_changes_the_choice() -> None:
    class Lengths(ScriptedBackend):
        def score(self, prompt, candidates, end=True):  # type: ignore[override]
            scores = super().score(prompt, candidates, end)
            lengths = [4 if c == "e4" else 1 for c in candidates]
            return type(scores)(scores.logprobs, lengths, scores.tokens_in, scores.tokens_out, scores.processed)

    likelihood = {"e4": -4.0, "d4": -3.0}
    assert player(Lengths(likelihood=likelihood)).play(chess.Board()).move.uci() == "d2d4"
    assert player(Lengths(likelihood=likelihood), score_norm="mean").play(chess.Board()).move.uci() == "e2e4"


def test_score_mode_sampling_is_seeded_and_follows_the_likelihoods() -> None:
    likelihood = {"e4": -0.1, "d4": -0.1}
    picks = []
    for _ in range(2):
        p = player(ScriptedBackend(likelihood=likelihood), temperature=1.0)
        p.new_game(7)
        picks.append([p.play(chess.Board()).move.uci() for _ in range(30)])
    assert picks[0] == picks[1]
    assert set(picks[0]) <= {"e2e4", "d2d4"} and len(set(picks[0])) == 2  # the -50 moves are never drawn


def test_generate_mode_retries_after_illegal_answers_and_counts_them() -> None:
    backend = ScriptedBackend(answers=["I like Ke2", "hmm", "Nf3"])
    tally = Tally()
    result = player(backend, tally, mode="generate", max_retries=2).play(chess.Board())
    assert result.move == chess.Move.from_uci("g1f3")
    assert result.illegal == 2 and not result.forfeit
    assert result.tokens_in == 300 and result.tokens_out == 15
    snap = tally.snapshot()
    assert (snap["moves"], snap["illegal"], snap["retries"], snap["forfeits"]) == (1, 2, 2, 0)
    # the second request showed the model its answer and why it was refused
    second = backend.prompts[1]
    assert second.turns[0] == ("assistant", "I like Ke2")
    assert "Ke2 is not legal" in second.turns[1][1]
    assert "no move found" in backend.prompts[2].turns[-1][1]


def test_generate_mode_forfeits_after_max_retries_with_a_random_legal_move() -> None:
    backend = ScriptedBackend(answers=["Ke2", "Qh5", "Ke2", "never asked"])
    tally = Tally()
    board = chess.Board()
    result = player(backend, tally, mode="generate", max_retries=2).play(board)
    assert result.forfeit and result.move in board.legal_moves
    assert result.illegal == 3 and "forfeit" in result.comment
    assert len(backend.prompts) == 3 and backend.answers == ["never asked"]
    snap = tally.snapshot()
    assert (snap["illegal"], snap["retries"], snap["forfeits"], snap["backend_errors"]) == (3, 2, 1, 0)


def test_backend_failure_is_a_counted_forfeit_and_the_game_goes_on() -> None:
    backend = ScriptedBackend(answers=["e4"], fail=1)
    tally = Tally()
    p = player(backend, tally, mode="generate")
    first = p.play(chess.Board())
    assert first.forfeit
    second = p.play(chess.Board())
    assert second.move == chess.Move.from_uci("e2e4") and not second.forfeit
    snap = tally.snapshot()
    assert (snap["moves"], snap["forfeits"], snap["backend_errors"]) == (2, 1, 1)


def test_cost_model_in_dollars() -> None:
    tally = Tally()
    backend = ScriptedBackend(answers=["e4"])
    player(backend, tally, mode="generate", dollars_per_mtok_in=2.0, dollars_per_mtok_out=10.0).play(chess.Board())
    assert tally.snapshot()["dollars"] == pytest.approx((100 * 2.0 + 5 * 10.0) / 1e6)


def test_tally_take_resets_and_is_thread_safe() -> None:
    tally = Tally()

    def work() -> None:
        for _ in range(1000):
            tally.add(moves=1, tokens_in=2)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    taken = tally.take()
    assert taken["moves"] == 4000 and taken["tokens_in"] == 8000
    assert tally.snapshot()["moves"] == 0
