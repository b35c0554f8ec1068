"""The OpenAI-compatible backend against real HTTP servers on loopback: a scripted one for every fault, and
(slow) `transformers serve` running the embedded model."""

from __future__ import annotations

import json
import logging
import os
import random
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Iterator

import chess
import pytest

from bench.errors import BenchError
from bench.learners.icl.backends import BackendError
from bench.learners.icl.http import ALIGNMENT_PROBE, OpenAIBackend, retry_after_seconds
from bench.learners.icl.player import IclPlayer, PlaySettings, Tally
from bench.learners.icl.prompts import Prompt, PromptBuilder
from tests.icl.conftest import llm_cfg, templates

KEY = "sk-test-7f3a9c-never-logged"
PROMPT = Prompt("You play chess.", "", "Your move:")


def ok(text: str, prompt_tokens: int = 11, completion_tokens: int = 2) -> dict[str, Any]:
    return {"status": 200, "body": {"choices": [{"message": {"role": "assistant", "content": text}, "text": text,
                                                 "finish_reason": "stop"}],
                                    "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens}}}


class Script:
    """What the server answers, request by request, and what it was sent."""

    def __init__(self) -> None:
        self.answers: list[dict[str, Any]] = []
        self.requests: list[dict[str, Any]] = []
        self.responder: Any = None
        """body -> answer, used when `answers` is empty."""
        self.delay = 0.0
        """Seconds every answer from `responder` or the default takes."""
        self.lock = threading.Lock()
        self.in_flight = 0
        self.peak = 0
        """Most requests the server was handling at once."""


class Handler(BaseHTTPRequestHandler):
    script: Script

    def log_message(self, *args: Any) -> None:
        pass

    def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
        length = int(self.headers.get("Content-Length", 0))
        body = json.loads(self.rfile.read(length))
        with self.script.lock:
            self.script.requests.append({"path": self.path, "headers": dict(self.headers), "body": body})
            self.script.in_flight += 1
            self.script.peak = max(self.script.peak, self.script.in_flight)
            scripted = self.script.answers.pop(0) if self.script.answers else None
        if scripted is None:
            answer = self.script.responder(body) if self.script.responder else ok("e4")
            answer = {**answer, "sleep": self.script.delay}
        else:
            answer = scripted
        time.sleep(answer.get("sleep", 0))
        with self.script.lock:
            self.script.in_flight -= 1
        if answer.get("raw") is not None:
            payload = answer["raw"]
        else:
            payload = json.dumps(answer.get("body", {})).encode()
        self.send_response(answer["status"])
        for name, value in answer.get("headers", {}).items():
            self.send_header(name, value)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        try:
            self.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):
            pass


@pytest.fixture
def server() -> Iterator[tuple[str, Script]]:
    script = Script()
    handler = type("ScriptedHandler", (Handler,), {"script": script})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/v1", script
    httpd.shutdown()
    httpd.server_close()


class Sleeps(list):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def backend(url: str, sleeps: Sleeps | None = None, rng: random.Random | None = None,
            **overrides: Any) -> OpenAIBackend:
    cfg = llm_cfg(backend="openai", base_url=url, model="m", **{"max_attempts": 4, "backoff_s": 0.01, **overrides})
    return OpenAIBackend(cfg, sleep=sleeps if sleeps is not None else Sleeps(), rng=rng)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_chat_request_usage_and_key_header(server, monkeypatch) -> None:
    url, script = server
    monkeypatch.setenv("BENCH_TEST_KEY", KEY)
    script.answers = [ok("Nf3", 42, 3)]
    be = backend(url, api_key_env="BENCH_TEST_KEY", request_extra={"top_p": 0.9})
    answer = be.generate(PROMPT, max_tokens=8)
    assert (answer.text, answer.tokens_in, answer.tokens_out, answer.processed) == ("Nf3", 42, 3, 45)
    sent = script.requests[0]
    assert sent["path"] == "/v1/chat/completions"
    assert sent["headers"]["Authorization"] == f"Bearer {KEY}"
    assert sent["body"]["messages"][0] == {"role": "system", "content": "You play chess."}
    assert sent["body"]["max_tokens"] == 8 and sent["body"]["top_p"] == 0.9 and sent["body"]["model"] == "m"
    assert "seed" not in sent["body"]  # greedy requests carry no seed (some servers refuse it)


def test_completions_endpoint_sends_plain_text(server) -> None:
    url, script = server
    answer = backend(url, endpoint="completions").generate(PROMPT.with_turns(("assistant", "Ke2"), ("user", "no")), 4)
    sent = script.requests[0]
    assert sent["path"] == "/v1/completions" and sent["body"]["stop"] == ["\n"]
    assert sent["body"]["prompt"].startswith("You play chess.\n\nYour move:") and "Answer: Ke2" in sent["body"]["prompt"]
    assert "Authorization" not in sent["headers"] and answer.text == "e4"


def test_429_honours_retry_after_then_succeeds(server) -> None:
    url, script = server
    script.answers = [{"status": 429, "headers": {"Retry-After": "7"}, "body": {"error": "slow down"}}, ok("d4")]
    sleeps = Sleeps()
    be = backend(url, sleeps)
    assert be.generate(PROMPT, 4).text == "d4"
    assert sleeps == [7.0] and be.stats["transport_retries"] == 1


def test_5xx_backs_off_exponentially_with_jitter_and_caps_retry_after(server) -> None:
    url, script = server
    script.answers = [{"status": 503}, {"status": 500}, {"status": 502, "headers": {"Retry-After": "9999"}}, ok("c4")]
    sleeps = Sleeps()
    assert backend(url, sleeps, backoff_s=0.5, retry_after_max_s=60).generate(PROMPT, 4).text == "c4"
    # 0.5 then 1.0 (doubled), each drawn from [half, all] of it; the server's Retry-After cut to the cap, unjittered
    assert 0.25 <= sleeps[0] <= 0.5 and 0.5 <= sleeps[1] <= 1.0 and sleeps[2] == 60.0


def test_jitter_spreads_the_retries_of_requests_that_failed_together(server) -> None:
    url, script = server
    waits = []
    for seed in range(2):
        script.answers = [{"status": 503}, ok("e4")]
        sleeps = Sleeps()
        backend(url, sleeps, rng=random.Random(seed), backoff_s=1.0).generate(PROMPT, 4)
        waits.append(sleeps[0])
    assert waits[0] != waits[1] and all(0.5 <= w <= 1.0 for w in waits)


def test_retry_after_as_http_date() -> None:
    now = time.time()
    assert retry_after_seconds(formatdate(now + 30, usegmt=True), now=now) == pytest.approx(30, abs=1)
    assert retry_after_seconds("garbage") is None and retry_after_seconds(None) is None


def test_truncated_json_is_retried(server) -> None:
    url, script = server
    script.answers = [{"status": 200, "raw": b'{"choices": [{"message": {"content": "e'}, ok("e4")]
    sleeps = Sleeps()
    assert backend(url, sleeps).generate(PROMPT, 4).text == "e4"
    assert len(sleeps) == 1


def test_timeouts_are_retried(server) -> None:
    url, script = server
    script.answers = [{"status": 200, "sleep": 1.0, "body": ok("b3")["body"]}, ok("e4")]
    assert backend(url, timeout_s=0.2).generate(PROMPT, 4).text == "e4"


def test_connection_refused_gives_up_after_max_attempts() -> None:
    sleeps = Sleeps()
    be = backend(f"http://127.0.0.1:{free_port()}/v1", sleeps, max_attempts=3, backoff_s=1.0)
    with pytest.raises(BackendError, match="after 3 tries"):
        be.generate(PROMPT, 4)
    assert len(sleeps) == 2 and 0.5 <= sleeps[0] <= 1.0 and 1.0 <= sleeps[1] <= 2.0
    assert be.stats["failed_requests"] == 1


def test_client_errors_are_not_retried_and_auth_errors_stop_the_run(server, monkeypatch, caplog) -> None:
    url, script = server
    monkeypatch.setenv("BENCH_TEST_KEY", KEY)
    script.answers = [{"status": 400, "body": {"error": "prompt too long"}}]
    sleeps = Sleeps()
    with pytest.raises(BackendError, match="HTTP 400"):
        backend(url, sleeps).generate(PROMPT, 4)
    assert sleeps == []
    script.answers = [{"status": 401, "body": {"error": "bad key"}}]
    with caplog.at_level(logging.DEBUG), pytest.raises(BenchError, match="HTTP 401") as info:
        backend(url, api_key_env="BENCH_TEST_KEY").generate(PROMPT, 4)
    assert KEY not in str(info.value) and KEY not in caplog.text


def test_missing_key_variable_names_the_variable_only(monkeypatch) -> None:
    monkeypatch.delenv("BENCH_TEST_KEY", raising=False)
    with pytest.raises(BenchError, match="BENCH_TEST_KEY"):
        backend("http://127.0.0.1:1/v1", api_key_env="BENCH_TEST_KEY")
    with pytest.raises(BenchError, match="base_url"):
        OpenAIBackend(llm_cfg(backend="openai"))
    with pytest.raises(BenchError, match="llm.constrain"):
        backend("http://127.0.0.1:1/v1", constrain="regex")


def test_empty_and_garbage_answers_become_retries_then_a_forfeit_and_play_goes_on(server) -> None:
    url, script = server
    script.answers = [ok(""), ok("I think so"), ok(""), {"status": 503}, {"status": 503}]
    tally = Tally()
    player = IclPlayer("icl", backend(url, max_attempts=2), PromptBuilder(templates()), "",
                       PlaySettings(mode="generate", max_retries=2), tally)
    board = chess.Board()
    first = player.play(board)  # three empty or moveless answers: a forfeit
    assert first.forfeit and first.illegal == 3 and first.move in board.legal_moves
    board.push(first.move)
    second = player.play(board)  # a 503 retried, then a second 503 ends the request: a forfeit
    assert second.forfeit and second.move in board.legal_moves
    board.push(second.move)
    legal = board.san(next(iter(board.legal_moves)))
    script.answers = [ok(f"I play {legal}.")]
    third = player.play(board)
    assert not third.forfeit and board.san(third.move) == legal
    snap = tally.snapshot()
    assert (snap["moves"], snap["forfeits"], snap["backend_errors"], snap["illegal"]) == (3, 2, 1, 3)


def test_requests_run_concurrently_up_to_max_concurrency(server) -> None:
    url, script = server
    script.delay = 0.3
    timings = {}
    for limit in (1, 4):
        be = backend(url, max_concurrency=limit)
        script.peak = 0
        start = time.perf_counter()
        threads = [threading.Thread(target=be.generate, args=(PROMPT, 4)) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        timings[limit] = time.perf_counter() - start
        assert script.peak == limit  # no global lock: exactly `max_concurrency` requests in flight
        be.close()
    assert timings[1] >= 4 * 0.3 and timings[4] < 2 * 0.3


def echo_logprobs(prompt_text: str, likelihood: dict[str, float]) -> Any:
    """A server answering /completions with echo + logprobs, one token per character: the answer's characters
    (what follows `prompt_text`) get `likelihood[answer]` each (-5 for others), the prompt's -0.5."""

    def respond(body: dict[str, Any]) -> dict[str, Any]:
        text = body["prompt"]
        assert body["echo"] is True and body["logprobs"] >= 0 and body["max_tokens"] >= 1
        if text == ALIGNMENT_PROBE:  # the backend's first request: are the log-probabilities aligned?
            return echo_answer(text, [None] + [-0.1] * (len(text) - 1))
        assert text.startswith(prompt_text)
        answer = text[len(prompt_text):]
        per_char = likelihood.get(answer, -5.0)
        return echo_answer(text, [None] + [-0.5] * (len(prompt_text) - 1) + [per_char] * len(answer))

    return respond


def echo_answer(text: str, values: list[float | None]) -> dict[str, Any]:
    """An echo answer, one token per character, plus one generated token ("x", -0.1) after the prompt."""
    return {"status": 200, "body": {"choices": [{"text": text + "x", "finish_reason": "length", "logprobs": {
        "tokens": list(text) + ["x"], "token_logprobs": values + [-0.1], "text_offset": list(range(len(text) + 1))}}]}}


def test_score_mode_sums_the_answer_tokens_of_the_servers_prompt_logprobs(server) -> None:
    url, script = server
    be = backend(url, endpoint="completions", max_concurrency=3)
    prompt = Prompt("You play chess.", "", "Your move:")
    text, end = be.score_text(prompt, end=True)
    assert text == "You play chess.\n\nYour move: " and end == ""  # no tokenizer: plain text, no end marker
    script.responder = echo_logprobs(text, {"Nf3": -0.1, "e4": -1.0})
    scores = be.score(prompt, ["e4", "Nf3", "a3"])
    assert scores.lengths == [2, 3, 2]
    assert scores.logprobs == pytest.approx([-2.0, -0.3, -10.0])
    assert scores.tokens_in == len(text)  # one token per character
    assert all(r["path"] == "/v1/completions" for r in script.requests) and script.peak <= 3


def test_score_mode_plays_through_the_player(server) -> None:
    url, script = server
    builder = PromptBuilder(templates())
    board = chess.Board()
    be = backend(url, endpoint="completions")
    script.responder = echo_logprobs(be.score_text(builder.prompt("", board), end=True)[0],
                                     {builder.answer("Nf3"): -0.01})
    player = IclPlayer("icl", be, builder, "", PlaySettings(mode="score"), Tally())
    result = player.play(board)
    assert board.san(result.move) == "Nf3" and not result.forfeit and result.tokens_in > 0
    assert len(script.requests) == 1 + 20  # the alignment probe, then one request per legal move


def test_a_server_without_prompt_logprobs_is_one_clear_line(server) -> None:
    url, script = server
    script.answers = [ok("e4")]  # a completion without logprobs: echo was ignored
    with pytest.raises(BenchError, match="no prompt log-probabilities") as info:
        backend(url, endpoint="completions").score(PROMPT, ["e4"])
    assert "learner.mode=generate" in str(info.value) and "\n" not in str(info.value)
    script.answers = [{"status": 400, "body": {"error": "echo is not supported"}}]
    with pytest.raises(BenchError, match="no prompt log-probabilities"):
        backend(url, endpoint="completions").score(PROMPT, ["e4"])


def test_a_server_whose_logprobs_are_shifted_by_one_token_is_one_clear_line(server) -> None:
    url, script = server
    script.responder = lambda body: echo_answer(body["prompt"], [None] + [-13.0] * (len(body["prompt"]) - 1))
    with pytest.raises(BenchError, match="shifted by one token") as info:
        backend(url, endpoint="completions").score(PROMPT, ["e4"])
    assert "issue 1983" in str(info.value) and "\n" not in str(info.value)
    assert len(script.requests) == 1  # the probe only: no move was scored


def test_answers_can_be_constrained_to_the_legal_moves(server) -> None:
    url, script = server
    backend(url, constrain="choice").generate(PROMPT, 4, choices=["e4", "d4"])
    backend(url, constrain="grammar", endpoint="completions").generate(PROMPT, 4, choices=["e4", "d4"])
    backend(url).generate(PROMPT, 4, choices=["e4", "d4"])
    choice, grammar, plain = (r["body"] for r in script.requests)
    assert choice["structured_outputs"] == {"choice": ["e4", "d4"]} and choice["guided_choice"] == ["e4", "d4"]
    assert '"e4" | "d4"' in grammar["grammar"] and "structured_outputs" not in grammar
    assert not {"grammar", "structured_outputs", "guided_choice"} & set(plain)


@pytest.mark.slow
def test_transformers_serve_plays_moves(smol_dir: Path) -> None:
    """A real OpenAI-compatible server (`transformers serve`, extra transformers[serving]) on loopback."""
    pytest.importorskip("fastapi")
    port = free_port()
    exe = Path(sys.executable).with_name("transformers")
    proc = subprocess.Popen([str(exe), "serve", str(smol_dir), "--host", "127.0.0.1", "--port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env={**os.environ, "HF_HUB_OFFLINE": "1"})
    try:
        deadline = time.time() + 180
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2).read()
                break
            except OSError:
                if time.time() > deadline or proc.poll() is not None:
                    pytest.fail("transformers serve did not come up")
                time.sleep(1)
        url = f"http://127.0.0.1:{port}/v1"
        for endpoint in ("chat", "completions"):
            be = OpenAIBackend(llm_cfg(backend="openai", base_url=url, model=str(smol_dir), endpoint=endpoint,
                                       timeout_s=120, parameters=134_515_008))
            tally = Tally()
            player = IclPlayer("icl", be, PromptBuilder(templates(), show_legal=True), "",
                               PlaySettings(mode="generate", max_retries=1), tally)
            board = chess.Board()
            for _ in range(2):
                result = player.play(board)
                assert result.move in board.legal_moves and result.tokens_in > 20 and result.flops > 0
                board.push(result.move)
            assert tally.snapshot()["backend_errors"] == 0 and be.stats["failed_requests"] == 0
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_with_a_tokenizer_the_scored_text_is_the_embedded_backends_tokens(tiny_dir: Path) -> None:
    """llm.tokenizer: the prompt rendered with the chat template and the end-of-turn token after each answer, so a
    server scores the very tokens the embedded backend scores."""
    from bench.learners.icl.embedded import EmbeddedBackend

    be = backend("http://127.0.0.1:1/v1", endpoint="completions", tokenizer=str(tiny_dir))
    prompt = Prompt("You play chess.", "Game 1: 1. e4 e5 2. Nf3 1-0\n", "Your move:")
    text, end = be.score_text(prompt, end=True)
    assert text.endswith("assistant\n") and end == "<|im_end|>"
    embedded = EmbeddedBackend(llm_cfg(model=str(tiny_dir)))
    tok = be.tokenizer()
    for answer in ("Nf3", "e4", "O-O"):
        joint = tok(text + answer + end, add_special_tokens=False).input_ids
        assert joint == embedded.prompt_ids(prompt) + embedded.answer_ids(answer, end=True)
    assert be.count_tokens("1. e4 e5") == embedded.count_tokens("1. e4 e5")
