"""Score mode through a real server on loopback: bench's reference server (bench.learners.icl.serve) serving
SmolLM2, the HTTP backend in score mode against it, and the embedded scorer on the same position.

The server rates prompt tokens generically (one causal forward pass over the whole text, vLLM's echo semantics) and
knows nothing of candidates; the embedded backend scores the candidates its own way (a cached prompt prefix and a
packed token trie). Their agreement checks the client's offsets and alignment, not a shared code path.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import chess
import pytest

from bench.learners.icl.backends import Scores
from bench.learners.icl.http import ALIGNMENT_MIN_MEDIAN, ALIGNMENT_PROBE, OpenAIBackend
from bench.learners.icl.player import IclPlayer, PlaySettings, Tally
from bench.learners.icl.prompts import PromptBuilder
from tests.icl.conftest import llm_cfg, templates
from tests.icl.llm_servers import serve

POSITION = ["e4", "d5", "Bb5+"]
"""Black in check with five legal answers: few candidates, as the server runs the whole prompt for each."""
TOLERANCE = 1e-3
"""Per candidate, in summed log-probability (nats): the same fp32 tokens through two computation orders."""


def http_backend(url: str, model: str, **extra: Any) -> OpenAIBackend:
    cfg = llm_cfg(backend="openai", base_url=url, model=model, endpoint="completions", timeout_s=300,
                  max_attempts=1, parameters=134_515_008, **extra)
    return OpenAIBackend(cfg)


def post(url: str, payload: bytes) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(url, data=payload, headers={"Content-Type": "application/json"}, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


@pytest.fixture(scope="module")
def bench_server(smol_dir: Path) -> Any:
    with serve("bench", model_dir=smol_dir, slots=2, threads=1, startup_s=300) as server:
        yield server


def test_score_mode_through_the_server_chooses_the_embedded_scorers_move(bench_server: tuple[str, str],
                                                                         smol_dir: Path) -> None:
    from bench.learners.icl.embedded import EmbeddedBackend

    url, model = bench_server
    builder = PromptBuilder(templates())
    board = chess.Board()
    for san in POSITION:
        board.push_san(san)
    served = http_backend(url, model, tokenizer=str(smol_dir), max_concurrency=2)
    embedded = EmbeddedBackend(llm_cfg(model=str(smol_dir), threads=1))
    moves, scores = {}, {}
    for name, backend in (("server", served), ("embedded", embedded)):
        player = IclPlayer(name, backend, builder, "", PlaySettings(mode="score"), Tally())
        result, scores[name] = recording_scores(backend, lambda: player.play(board))
        assert not result.forfeit
        moves[name] = result.move
    assert moves["server"] == moves["embedded"]
    remote, local = scores["server"], scores["embedded"]
    print(f"{board.san(moves['server'])}: largest difference "
          f"{max(abs(a - b) for a, b in zip(remote.logprobs, local.logprobs)):.2e} nats")
    # the same tokens: the server tokenized each whole text, the embedded backend prompt and answer apart
    assert remote.lengths == local.lengths and remote.tokens_in == local.tokens_in
    assert remote.logprobs == pytest.approx(local.logprobs, abs=TOLERANCE)
    assert len(remote.logprobs) == 5 and served.stats["failed_requests"] == 0
    served.close()
    embedded.close()


def recording_scores(backend: Any, play: Any) -> tuple[Any, Scores]:
    """(what `play()` returns, the Scores of the one `backend.score` call it made)."""
    seen: list[Scores] = []
    score = backend.score
    backend.score = lambda *args, **kwargs: seen.append(score(*args, **kwargs)) or seen[-1]
    try:
        result = play()
    finally:
        del backend.score
    assert len(seen) == 1
    return result, seen[0]


def test_the_alignment_probe_accepts_the_server(bench_server: tuple[str, str]) -> None:
    url, model = bench_server
    be = http_backend(url, model)
    be._check_scoring()  # raises BenchError for a server without (or with shifted) prompt log-probabilities
    _, _, values = be._echo_logprobs("", ALIGNMENT_PROBE, probe=True)
    later = sorted(values[len(values) // 2:])
    assert be._scoring_checked and later[len(later) // 2] > ALIGNMENT_MIN_MEDIAN / 5
    be.close()


def test_echo_returns_vllms_prompt_logprobs(bench_server: tuple[str, str]) -> None:
    url, model = bench_server
    prompt = "1, 2, 3, 4"
    answers = {}
    for max_tokens in (0, 1):
        status, body = post(url + "/completions", json.dumps(
            {"model": model, "prompt": prompt, "echo": True, "logprobs": 1, "max_tokens": max_tokens,
             "temperature": 0}).encode())
        assert status == 200
        answers[max_tokens] = body["choices"][0]
    rated = answers[0]["logprobs"]
    assert answers[0]["text"] == prompt and "".join(rated["tokens"]) == prompt
    assert rated["text_offset"] == [len("".join(rated["tokens"][:i])) for i in range(len(rated["tokens"]))]
    assert rated["token_logprobs"][0] is None and all(v < 0 for v in rated["token_logprobs"][1:])
    one = answers[1]["logprobs"]  # one generated token more, starting where the prompt ends
    assert answers[1]["text"].startswith(prompt) and one["tokens"][:-1] == rated["tokens"]
    assert one["text_offset"] == rated["text_offset"] + [len(prompt)] and one["token_logprobs"][0] is None
    assert one["token_logprobs"][1:-1] == pytest.approx(rated["token_logprobs"][1:], abs=1e-5)


@pytest.mark.parametrize("path, payload, status", [
    ("/completions", b'{"prompt": "1. e4', 400),                                   # not JSON
    ("/completions", b'[1, 2]', 400),                                              # not an object
    ("/completions", b'{"prompt": [101, 102], "max_tokens": 1}', 400),            # token ids
    ("/completions", b'{"prompt": "x", "max_tokens": -1}', 400),
    ("/completions", b'{"prompt": "x", "logprobs": "all"}', 400),
    ("/completions", b'{"prompt": "x", "guided_choice": ["e4", "d4"]}', 400),    # constrained decoding
    ("/completions", b'{"prompt": "x", "stream": true}', 400),
    ("/completions", b'{"prompt": "x", "model": "gpt-17"}', 404),
    ("/chat/completions", b'{"messages": "hello"}', 400),
    ("/embeddings", b'{"input": "x"}', 404),
])
def test_a_garbled_or_unsupported_request_gets_a_json_error(bench_server: tuple[str, str], path: str,
                                                            payload: bytes, status: int) -> None:
    url, model = bench_server
    code, body = post(url + path, payload)
    assert code == status and body["error"]["message"]
    code, body = post(url + "/completions", json.dumps({"model": model, "prompt": "1, 2,", "max_tokens": 1,
                                                        "temperature": 0}).encode())
    assert code == 200 and body["choices"][0]["text"]  # the server went on
