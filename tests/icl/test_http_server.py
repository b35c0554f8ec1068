"""The HTTP backend against real OpenAI-compatible servers on loopback (tests/icl/llm_servers.py).

- `transformers serve` (extra `serving`, installed by `make test`): concurrent generate requests on a tiny model,
  the same answers at max_concurrency 1 and 2; score mode is refused in one line (it returns no prompt
  log-probabilities).
- llama-cpp-python's server, when installed (it compiles llama.cpp: see llm_servers.py): answers constrained to the
  legal moves by a grammar (`llm.constrain=grammar`) are always legal; its prompt log-probabilities are shifted by one
  token (abetlen/llama-cpp-python issue 1983: each token rated by the distribution after it), so score mode is
  refused in one line rather than run on wrong numbers.

No third-party server that installs here returns correct prompt log-probabilities (vLLM does, on a GPU): score mode
through a real server is checked on bench's own reference server (tests/icl/test_bench_server.py), and token for
token with a scripted server (tests/icl/test_http.py).
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import chess
import pytest

from bench.errors import BenchError
from bench.learners.icl.http import OpenAIBackend
from bench.learners.icl.prompts import Prompt, PromptBuilder
from tests.icl.conftest import llm_cfg, templates
from tests.icl.llm_servers import llama_server_python, serve, transformers_available

POSITION = ["e4", "e5", "Nf3", "Nc6", "Bb5", "a6"]


def http_backend(url: str, model: str, **extra: Any) -> OpenAIBackend:
    cfg = llm_cfg(backend="openai", base_url=url, model=model, endpoint="completions", timeout_s=600,
                  max_attempts=2, parameters=1000, **extra)
    return OpenAIBackend(cfg)


def board_after(sans: list[str]) -> chess.Board:
    board = chess.Board()
    for san in sans:
        board.push_san(san)
    return board


@pytest.fixture(scope="module")
def transformers_server(tiny_dir: Path) -> Any:
    if not transformers_available():
        pytest.skip("transformers serve needs the `serving` extra (pip install 'transformers[serving]')")
    with serve("transformers", model_dir=tiny_dir, startup_s=300) as server:
        yield server


def test_transformers_serve_answers_concurrent_requests_alike(transformers_server: tuple[str, str]) -> None:
    url, model = transformers_server
    prompts = [Prompt("You play chess.", "", f"Game {i}: 1. e4 e5 2. Nf3. Your move:") for i in range(4)]
    answers, seconds = {}, {}
    for limit in (1, 2):
        be = http_backend(url, model, max_concurrency=limit)
        out: list[str] = [""] * len(prompts)

        def ask(i: int) -> None:
            out[i] = be.generate(prompts[i], 3).text

        start = time.perf_counter()
        threads = [threading.Thread(target=ask, args=(i,)) for i in range(len(prompts))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        seconds[limit] = time.perf_counter() - start
        answers[limit] = out
        assert be.stats["failed_requests"] == 0 and be.stats["requests"] == len(prompts)
        be.close()
    assert answers[1] == answers[2]  # greedy answers do not depend on how many requests are in flight
    print(f"transformers serve, tiny model, 4 requests: {seconds[1]:.2f} s at 1, {seconds[2]:.2f} s at 2")


def test_transformers_serve_cannot_score_and_says_so(transformers_server: tuple[str, str]) -> None:
    url, model = transformers_server
    with pytest.raises(BenchError, match="no prompt log-probabilities") as info:
        http_backend(url, model).score(Prompt("You play chess.", "", "Your move:"), ["e4", "d4"])
    assert "learner.mode=generate" in str(info.value)


@pytest.fixture(scope="module")
def llama_server() -> Any:
    if llama_server_python() is None:
        pytest.skip("llama-cpp-python's server is not installed (set BENCH_LLAMA_SERVER_PYTHON to a venv with it)")
    from bench.learners.icl.embedded import smollm2_gguf

    with serve("llamacpp", gguf=smollm2_gguf(), startup_s=300) as server:
        yield server


def test_llama_cpp_server_constrains_answers_to_the_legal_moves(llama_server: tuple[str, str]) -> None:
    url, model = llama_server
    builder = PromptBuilder(templates(), show_legal=True)
    be = http_backend(url, model, constrain="grammar", max_concurrency=2)
    for sans in (POSITION, ["d4", "Nf6", "c4"]):
        board = board_after(sans)
        legal = builder.legal_sans(board)
        assert be.generate(builder.prompt("", board), 8, choices=legal).text.strip() in legal
    be.close()


def test_llama_cpp_servers_shifted_logprobs_are_refused_in_one_line(llama_server: tuple[str, str]) -> None:
    url, model = llama_server
    with pytest.raises(BenchError, match="shifted by one token") as info:
        http_backend(url, model).score(Prompt("You play chess.", "", "Your move:"), ["e4", "d4"])
    assert "\n" not in str(info.value)
