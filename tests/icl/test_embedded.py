"""The embedded backend on real transformers models: scoring with prefix reuse equals a plain forward pass,
generation, thread safety, and one short real game with SmolLM2-135M."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import chess
import pytest
import torch

from bench.errors import BenchError
from bench.games import GameRules, Opening, play_game
from bench.learners.icl.embedded import EmbeddedBackend, resolve_model
from bench.learners.icl.player import IclPlayer, PlaySettings, Tally
from bench.learners.icl.prompts import Prompt, PromptBuilder
from bench.players import RandomPlayer
from tests.icl.conftest import llm_cfg, templates

HISTORY = "Your earlier games:\nGame 1: you were White; result 1-0.\n1. e4 e5 2. Nf3 Nc6 3. Bb5 a6\n"


@pytest.fixture(scope="module")
def tiny(tiny_dir: Path) -> EmbeddedBackend:
    return EmbeddedBackend(llm_cfg(model=str(tiny_dir)))


def naive_scores(be: EmbeddedBackend, prompt: Prompt, candidates: list[str]) -> list[float]:
    """Each candidate scored by its own full forward pass, no cache: the reference."""
    ids = be.prompt_ids(prompt)
    out = []
    with torch.inference_mode():
        for cand in candidates:
            c = be._ids(cand) + be.end_ids[:1]
            logits = be.model(torch.tensor([ids + c]), logits_to_keep=len(c) + 1).logits[0, :-1]
            logp = torch.log_softmax(logits.float(), -1)
            out.append(sum(float(logp[j, t]) for j, t in enumerate(c)))
    return out


def board_after(*sans: str) -> chess.Board:
    board = chess.Board()
    for san in sans:
        board.push_san(san)
    return board


def test_scores_with_prefix_cache_and_packed_candidates_equal_plain_forward_passes(tiny: EmbeddedBackend) -> None:
    builder = PromptBuilder(templates())
    tiny.cache.items = []
    board = board_after("e4")
    prompt = builder.prompt(HISTORY, board)
    cands = [board.san(m) for m in board.legal_moves]
    first = tiny.score(prompt, cands)
    assert first.processed == first.tokens_in + first.tokens_out  # nothing cached yet
    assert first.tokens_out < sum(len(tiny._ids(c)) + 1 for c in cands)  # shared first tokens ran once
    assert first.logprobs == pytest.approx(naive_scores(tiny, prompt, cands), abs=1e-4)
    # the next move shares the system message, the history and the game's first moves: only new tokens run
    board.push_san("e5")
    board.push_san("Nf3")
    nxt = builder.prompt(HISTORY, board)
    cands = [board.san(m) for m in board.legal_moves]
    second = tiny.score(nxt, cands)
    history_tokens = tiny.count_tokens(HISTORY)
    assert second.processed - second.tokens_out < second.tokens_in - history_tokens
    assert second.logprobs == pytest.approx(naive_scores(tiny, nxt, cands), abs=1e-4)


def test_score_without_end_token(tiny: EmbeddedBackend) -> None:
    prompt = Prompt("s", "", "Your move:")
    with_end, without = tiny.score(prompt, ["e4", "d4"]), tiny.score(prompt, ["e4", "d4"], end=False)
    assert all(a < b for a, b in zip(with_end.logprobs, without.logprobs))
    assert [n - 1 for n in with_end.lengths] == without.lengths


def test_greedy_generation_is_deterministic_and_reuses_the_prefix(tiny: EmbeddedBackend) -> None:
    prompt = PromptBuilder(templates()).prompt(HISTORY, chess.Board())
    tiny.cache.items = []
    a = tiny.generate(prompt, max_tokens=5)
    b = tiny.generate(prompt, max_tokens=5)
    assert a.text == b.text and a.tokens_in == b.tokens_in
    assert a.processed == a.tokens_in + a.tokens_out
    assert b.processed < a.processed  # the prompt came from the cache the second time
    assert a.finish in ("stop", "length") and a.tokens_out <= 5
    s1 = tiny.generate(prompt, max_tokens=5, temperature=1.0, seed=3)
    s2 = tiny.generate(prompt, max_tokens=5, temperature=1.0, seed=3)
    assert s1.text == s2.text


def test_players_share_one_model_from_several_threads(tiny: EmbeddedBackend) -> None:
    builder = PromptBuilder(templates())
    board = board_after("d4", "d5")
    expected = tiny.score(builder.prompt(HISTORY, board), [board.san(m) for m in board.legal_moves]).logprobs
    results: list[list[float]] = []

    def work() -> None:
        for _ in range(3):
            results.append(tiny.score(builder.prompt(HISTORY, board), [board.san(m) for m in board.legal_moves]).logprobs)

    threads = [threading.Thread(target=work) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 9 and all(r == pytest.approx(expected, abs=1e-4) for r in results)


def test_prompt_beyond_the_window_is_a_clear_error(tiny_dir: Path) -> None:
    be = EmbeddedBackend(llm_cfg(model=str(tiny_dir), context_window=64))
    with pytest.raises(BenchError, match="window"):
        be.score(Prompt("s", "word " * 100, "x"), ["e4"])


def test_model_names_are_checked(tmp_path: Path) -> None:
    with pytest.raises(BenchError, match="Hugging Face model folder"):
        resolve_model(str(tmp_path))
    with pytest.raises(BenchError, match="no such GGUF"):
        resolve_model(str(tmp_path / "x.gguf"))


def test_one_short_real_game_with_smollm2(smol_dir: Path) -> None:
    """SmolLM2-135M-Instruct (from the cache: loads in about a second) plays 8 plies against the random mover."""
    start = time.perf_counter()
    be = EmbeddedBackend(llm_cfg(model="smollm2", threads=1))
    assert be.parameters == 134_515_008 and be.context_window == 8192
    assert time.perf_counter() - start < 30
    tally = Tally()
    model = IclPlayer("smollm2", be, PromptBuilder(templates()), HISTORY, PlaySettings(mode="score"), tally)
    game = play_game(model, RandomPlayer(seed=1), Opening("Start", ()), GameRules(max_plies=8, adjudicate=False))
    assert game.headers["PlyCount"] == "8"
    snap = tally.snapshot()
    assert snap["moves"] == 4 and snap["forfeits"] == 0 and snap["illegal"] == 0
    # measured FLOPs (attention over the real context, the output layer only where logits are kept) stay near the
    # 2·N·tokens rule of thumb for a 135M model over a few hundred tokens: measured 0.90x of it
    assert 0.7 * 2 * be.parameters * snap["tokens_run"] < snap["flops"] < 1.3 * 2 * be.parameters * snap["tokens_run"]
    assert int(game.headers["WhiteTokensIn"]) == snap["tokens_in"]
    # the prefix cache: four moves ran far fewer tokens than four full prompts
    assert snap["tokens_run"] < snap["tokens_in"] + snap["tokens_out"]


@pytest.mark.slow
def test_smollm2_generate_mode_game_counts_illegal_answers(smol_dir: Path) -> None:
    be = EmbeddedBackend(llm_cfg(model="smollm2", threads=1))
    tally = Tally()
    model = IclPlayer("smollm2", be, PromptBuilder(templates(), show_legal=True), "",
                      PlaySettings(mode="generate", max_retries=1, max_answer_tokens=8), tally)
    game = play_game(RandomPlayer(seed=2), model, Opening("Start", ()), GameRules(max_plies=12, adjudicate=False))
    snap = tally.snapshot()
    assert snap["moves"] == 6 and snap["illegal"] >= snap["forfeits"] * 2
    assert int(game.headers["BlackForfeits"]) == snap["forfeits"]
