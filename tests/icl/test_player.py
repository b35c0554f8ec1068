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


class Counting(ScriptedBackend):
    """Reports what a real backend would: tokens in = the words of the prompt as sent (system, history, position
    and every retry turn), tokens out = the words of its answer (score mode: of every candidate), tokens run =
    half the prompt (the other half served from a prefix cache) plus the output. Every call's numbers differ."""

    def generate(self, prompt, max_tokens, temperature=0.0, seed=0, choices=None):  # type: ignore[override]
        done = super().generate(prompt, max_tokens, temperature, seed, choices)
        words_in = sum(len(m["content"].split()) for m in prompt.messages())
        words_out = len(done.text.split())
        return type(done)(done.text, tokens_in=words_in, tokens_out=words_out, processed=words_in // 2 + words_out,
                          finish=done.finish)

    def score(self, prompt, candidates, end=True):  # type: ignore[override]
        done = super().score(prompt, candidates, end)
        words_in = sum(len(m["content"].split()) for m in prompt.messages())
        words_out = sum(len(c.split()) for c in candidates)
        return type(done)(done.logprobs, done.lengths, words_in, words_out, words_in // 2 + words_out)


@pytest.mark.parametrize("mode", ["generate", "score"])
def test_accounting_is_the_sum_of_what_each_call_reports(mode: str) -> None:
    """Tokens, tokens run, FLOPs (2 N per token run, N = 1000 parameters) and dollars of one move are the sums
    over its calls, counted here from the prompts the backend was shown; retries make each prompt longer."""
    backend = Counting(answers=["I like Ke2", "hmm, let me think", "Nf3"], likelihood={"d4": -1.0})
    tally = Tally()
    result = player(backend, tally, mode=mode, max_retries=2, dollars_per_mtok_in=2.0,
                    dollars_per_mtok_out=10.0).play(chess.Board())
    sizes = [sum(len(m["content"].split()) for m in p.messages()) for p in backend.prompts]
    if mode == "generate":
        outs = [3, 4, 1]
        assert len(sizes) == 3 and sizes[0] < sizes[1] < sizes[2]  # each retry adds the answer and the reply
    else:
        board = chess.Board()
        outs = [sum(len(PromptBuilder(templates()).answer(board.san(m)).split()) for m in board.legal_moves)]
        assert len(sizes) == 1
    tokens_in, tokens_out = sum(sizes), sum(outs)
    run = sum(size // 2 + out for size, out in zip(sizes, outs))
    assert (result.tokens_in, result.tokens_out) == (tokens_in, tokens_out)
    assert result.flops == 2 * 1000 * run
    assert result.move.uci() == ("g1f3" if mode == "generate" else "d2d4")
    snap = tally.snapshot()
    assert (snap["tokens_in"], snap["tokens_out"], snap["tokens_run"], snap["calls"]) == (
        tokens_in, tokens_out, run, len(sizes))
    assert snap["flops"] == 2 * 1000 * run
    assert snap["dollars"] == pytest.approx(round((tokens_in * 2.0 + tokens_out * 10.0) / 1e6, 6))


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
