"""The OpenAI-compatible HTTP backend (`llm=openai`): vLLM, llama.cpp's server, Ollama, `transformers serve`,
hosted APIs. Standard library only (urllib), so it adds no dependency.

Requests run concurrently: up to `llm.max_concurrency` in flight at once (concurrent evaluation games, and the
candidates of one scored move), so a batching server (vLLM, llama.cpp with several slots) is kept busy. There is
no global lock.

Score mode (`learner.mode=score`, the default) works through `/completions` on servers that return prompt
log-probabilities (`echo` with `logprobs`, as as vLLM does; OpenAI's own API no longer does,
llama.cpp's own server returns none, and llama-cpp-python's returns them shifted by one token; on a CPU,
bench's own `bench-llm-serve` (bench.learners.icl.serve) returns them): each candidate move is sent as prompt + answer, and the log-probabilities of the answer's tokens are summed.
Support is checked on the first scored move, with a probe whose tokens any model predicts ("1, 2, ..., 12"): a server
without prompt log-probabilities, or with log-probabilities shifted by one token (llama-cpp-python's server: each
token rated by the distribution after it), stops the run with one line saying so. The
prompt is rendered with the model's chat template when `llm.tokenizer` names a local tokenizer (a Hugging Face
folder, or `smollm2`), so the scores are the ones the embedded backend computes; otherwise it is flattened to
plain text as for `llm.endpoint=completions`.

Generate mode can constrain answers to the legal moves where the server offers it (`llm.constrain`): `choice`
sends vLLM's `structured_outputs: {choice: [...]}` (and the older `guided_choice`), `grammar` sends a GBNF
grammar (llama.cpp's server, llama-cpp-python's server).

Faults are retried a bounded number of times with exponential backoff and jitter (the wait is drawn uniformly
between half and all of `backoff_s x 2^attempt`, capped at `backoff_max_s`: "equal jitter", AWS Architecture Blog,
"Exponential Backoff And Jitter", 2015), so concurrent requests that failed together do not retry together:
connection refused or reset, timeouts, HTTP 429 and 5xx (a server's `Retry-After`, in seconds or as an HTTP date,
is honoured as given, up to a cap), and answers that are not the JSON the API promises (truncated bodies). After
the last try a `BackendError` makes the player forfeit that move; the game goes on. 401/403/404 are configuration
errors and stop the run with one clear line. The API key is read from the environment variable named in
`llm.api_key_env` and only ever sent as a header.
"""

from __future__ import annotations

import email.utils
import json
import logging
import math
import os
import random
import socket
import threading
from concurrent.futures import ThreadPoolExecutor
import time
import urllib.error
import urllib.request
from typing import Any, Callable

from bench.errors import BenchError
from bench.learners.icl.backends import BackendError, Completion, Scores
from bench.learners.icl.config import CONSTRAINTS
from bench.learners.icl.prompts import Prompt

log = logging.getLogger("bench.icl")

NO_PROMPT_LOGPROBS = ("{url}: this server returns no prompt log-probabilities on /completions (echo with logprobs), "
                      "so it cannot score moves; use learner.mode=generate, or a server that returns them (vLLM, "
                      "llama-cpp-python's server started with --logits_all true)")
MISALIGNED_LOGPROBS = ("{url}: this server's prompt log-probabilities are shifted by one token (counting "
                       "'1, 2, ..., 12' got a median log-probability of {median:.1f} per token, where any language model "
                       "gives about 0): each token is rated by the distribution after it, as llama-cpp-python's server "
                       "does (abetlen/llama-cpp-python issue 1983), so moves cannot be scored; use learner.mode=generate, "
                       "or a server that rates prompts correctly (vLLM)")
ALIGNMENT_PROBE = "1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12"
"""Text whose later tokens any language model predicts almost surely: a server that rates each prompt token by the
right distribution gives them log-probabilities near 0 (SmolLM2-135M: median -0.05 over the second half), one that
is off by one token far below (llama-cpp-python 0.3.36 on the same model: median -13.7)."""
ALIGNMENT_MIN_MEDIAN = -2.5
RETRY_STATUS = {408, 409, 425, 429, 500, 502, 503, 504}
FATAL_STATUS = {401: "the API key was refused", 403: "access is forbidden", 404: "no such endpoint or model"}


def retry_after_seconds(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header: delta-seconds or an HTTP date (RFC 9110, section 10.2.3)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError, IndexError):
        return None
    return max(0.0, when - (time.time() if now is None else now))


def completion_text(prompt: Prompt) -> str:
    """A chat prompt flattened for the plain /completions endpoint."""
    parts = [prompt.system, prompt.history + prompt.current]
    parts += [f"{'Answer' if role == 'assistant' else 'Note'}: {text}" for role, text in prompt.turns]
    return "\n\n".join(parts) + " "


def equal_jitter(backoff: float, rng: random.Random) -> float:
    """A wait drawn uniformly from [backoff / 2, backoff] (equal jitter)."""
    return backoff / 2 + rng.random() * backoff / 2


class OpenAIBackend:
    """Talks to `llm.base_url`; thread-safe, with up to `llm.max_concurrency` requests in flight."""

    can_score = True
    """Decided by the server: checked on the first scored move (see the module docstring)."""

    def __init__(self, cfg: Any, sleep: Callable[[float], None] = time.sleep, rng: random.Random | None = None) -> None:
        if not cfg.base_url:
            raise BenchError("llm=openai needs llm.base_url, e.g. llm.base_url=http://127.0.0.1:8000/v1")
        if str(cfg.endpoint) not in ("chat", "completions"):
            raise BenchError(f"llm.endpoint={cfg.endpoint!r}; choose chat or completions")
        self.constrain = str(cfg.constrain)
        if self.constrain not in CONSTRAINTS:
            raise BenchError(f"llm.constrain={self.constrain!r}; choose one of {', '.join(CONSTRAINTS)}")
        self.cfg = cfg
        self.base_url = str(cfg.base_url).rstrip("/")
        self.model = str(cfg.model)
        self.name = f"openai:{self.model}"
        self.parameters = int(cfg.parameters) if cfg.parameters else None
        self.context_window = int(cfg.context_window or 8192)
        self._key = self._api_key(cfg.api_key_env)
        self.sleep = sleep
        self.rng = rng or random.Random()
        self.max_concurrency = max(1, int(cfg.max_concurrency))
        self.slots = threading.BoundedSemaphore(self.max_concurrency)
        """Requests in flight at once, over every thread using this backend."""
        self._pool = ThreadPoolExecutor(max_workers=self.max_concurrency, thread_name_prefix="llm-http")
        self._stats_lock = threading.Lock()
        self.stats = {"requests": 0, "transport_retries": 0, "failed_requests": 0}
        self._scoring_checked = False
        self._check_lock = threading.Lock()
        self._tokenizer: Any = None
        self._tokenizer_name = cfg.tokenizer

    @staticmethod
    def _api_key(env: str | None) -> str | None:
        if not env:
            return None
        key = os.environ.get(str(env))
        if not key:
            raise BenchError(f"llm.api_key_env={env}: that environment variable is not set; export it (the key is "
                             "never written to the config)")
        return key

    def _count(self, key: str) -> None:
        with self._stats_lock:
            self.stats[key] += 1

    # -- text ---------------------------------------------------------------------------------------------------
    def tokenizer(self) -> Any:
        """The local tokenizer named by `llm.tokenizer` (loaded once), or None."""
        if self._tokenizer is None and self._tokenizer_name:
            with self._stats_lock:  # games may ask at once: load it once
                if self._tokenizer is None:
                    from bench.learners.icl.embedded import prepare_model

                    os.environ.setdefault("HF_HUB_OFFLINE", "1")
                    from transformers import AutoTokenizer

                    folder = prepare_model(str(self._tokenizer_name), self.cfg.cache_dir)
                    self._tokenizer = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
        return self._tokenizer

    def count_tokens(self, text: str) -> int:
        """With `llm.tokenizer`, exact; otherwise an estimate: characters / llm.chars_per_token, rounded up."""
        tok = self.tokenizer()
        if tok is not None:
            return len(tok(text, add_special_tokens=False).input_ids)
        return math.ceil(len(text) / float(self.cfg.chars_per_token))

    def score_text(self, prompt: Prompt, end: bool) -> tuple[str, str]:
        """(prompt text, text after each answer) for scoring: the chat template's rendering and end-of-turn marker
        when a tokenizer is configured, else the plain-text flattening and nothing."""
        tok = self.tokenizer()
        if tok is None or not getattr(tok, "chat_template", None):
            return completion_text(prompt), ""
        text = tok.apply_chat_template(prompt.messages(), tokenize=False, add_generation_prompt=True)
        marker = "\u27e6A\u27e7"
        turn = tok.apply_chat_template([{"role": "user", "content": "x"}, {"role": "assistant", "content": marker}],
                                       tokenize=False)
        after = turn.split(marker, 1)[1] if marker in turn else ""
        ids = tok(after, add_special_tokens=False).input_ids
        return text, (tok.decode(ids[:1]) if end and ids else "")

    # -- generate -----------------------------------------------------------------------------------------------
    def generate(self, prompt: Prompt, max_tokens: int, temperature: float = 0.0, seed: int = 0,
                 choices: list[str] | None = None) -> Completion:
        body: dict[str, Any] = {"model": self.model, "max_tokens": int(max_tokens), "temperature": float(temperature)}
        if temperature > 0:
            body["seed"] = int(seed)
        if self.cfg.endpoint == "chat":
            body["messages"] = prompt.messages()
            path = "/chat/completions"
        else:
            body["prompt"] = completion_text(prompt)
            body["stop"] = ["\n"]
            path = "/completions"
        if choices and self.constrain == "choice":
            body["structured_outputs"] = {"choice": list(choices)}
            body["guided_choice"] = list(choices)
        elif choices and self.constrain == "grammar":
            from bench.learners.icl.llamacpp import moves_grammar

            body["grammar"] = moves_grammar(list(choices))
        body.update(dict(self.cfg.request_extra or {}))
        data = self._post(path, body)
        try:
            choice = data["choices"][0]
            text = choice["message"]["content"] if self.cfg.endpoint == "chat" else choice["text"]
        except (KeyError, IndexError, TypeError) as exc:
            raise BackendError(f"{self.base_url}{path}: the answer has no choices ({exc!r})") from exc
        text = text or ""
        usage = data.get("usage") or {}
        prompt_text = json.dumps(body.get("messages") or body.get("prompt"))
        tokens_in = int(usage.get("prompt_tokens") or self.count_tokens(prompt_text))
        tokens_out = int(usage.get("completion_tokens") or self.count_tokens(text))
        finish = "length" if choice.get("finish_reason") == "length" else "stop"
        return Completion(text, tokens_in, tokens_out, processed=tokens_in + tokens_out, finish=finish)

    # -- score --------------------------------------------------------------------------------------------------
    def score(self, prompt: Prompt, candidates: list[str], end: bool = True) -> Scores:
        """Log-likelihood of each candidate after `prompt`, from the server's prompt log-probabilities: one
        `/completions` request per candidate (prompt + candidate, echo, logprobs), up to `max_concurrency` at once;
        the server's prefix cache makes the shared prompt cheap."""
        if not candidates:
            raise ValueError("no candidates to score")
        if not self._scoring_checked:
            self._check_scoring()
        text, suffix = self.score_text(prompt, end)
        futures = [self._pool.submit(self._score_one, text, candidate + suffix) for candidate in candidates]
        results = [f.result() for f in futures]
        prompt_tokens = results[0][2]
        return Scores([r[0] for r in results], [r[1] for r in results], tokens_in=prompt_tokens,
                      tokens_out=sum(r[1] for r in results), processed=prompt_tokens + sum(r[1] for r in results))

    def _check_scoring(self) -> None:
        """Once: the server returns prompt log-probabilities, aligned with their tokens (see ALIGNMENT_PROBE)."""
        with self._check_lock:
            if self._scoring_checked:
                return
            _, _, values = self._echo_logprobs("", ALIGNMENT_PROBE, probe=True)
            if len(values) < 4:  # echo ignored: only the generated token came back
                raise BenchError(NO_PROMPT_LOGPROBS.format(url=self.base_url + "/completions"))
            later = sorted(values[len(values) // 2:])
            median = later[len(later) // 2] if later else float("-inf")
            if median < ALIGNMENT_MIN_MEDIAN:
                raise BenchError(MISALIGNED_LOGPROBS.format(url=self.base_url + "/completions", median=median))
            self._scoring_checked = True

    def _score_one(self, text: str, answer: str) -> tuple[float, int, int]:
        """(sum of the answer's token log-probabilities, its token count, prompt tokens) for one candidate."""
        prompt_tokens, _, picked = self._echo_logprobs(text, answer)
        if not picked:
            raise BackendError(f"{self.base_url}/completions: no log-probabilities for the answer {answer!r}")
        return float(sum(picked)), len(picked), prompt_tokens

    def _echo_logprobs(self, text: str, answer: str, probe: bool = False) -> tuple[int, int, list[float]]:
        """(tokens of `text`, all tokens, log-probabilities of the tokens of `answer`) from one echo request for
        `text + answer`; the token the server generates after it is left out."""
        full = text + answer
        body: dict[str, Any] = {"model": self.model, "prompt": full, "max_tokens": 1, "temperature": 0.0,
                                "echo": True, "logprobs": 1}
        body.update(dict(self.cfg.request_extra or {}))
        url = self.base_url + "/completions"
        try:
            data = self._post("/completions", body)
        except BackendError as exc:
            if probe and "HTTP 4" in str(exc):  # a 400/422 for echo/logprobs: no support
                raise BenchError(NO_PROMPT_LOGPROBS.format(url=url) + f" ({exc})") from None
            raise
        try:
            logprobs = data["choices"][0]["logprobs"]
            tokens, values, offsets = logprobs["tokens"], logprobs["token_logprobs"], logprobs["text_offset"]
            if len(offsets) != len(values) or not offsets or (offsets[-1] < len(text) and len(values) <= 1):
                raise ValueError("no per-token log-probabilities of the prompt")
        except (KeyError, IndexError, TypeError, ValueError) as exc:
            if probe:
                raise BenchError(NO_PROMPT_LOGPROBS.format(url=url)) from None
            raise BackendError(f"{url}: an answer without prompt log-probabilities ({exc!r})") from exc
        # the answer's tokens: those starting inside it (the first token of all has no log-probability)
        picked = [v for off, v in zip(offsets, values) if len(text) <= off < len(full) and v is not None]
        prompt_tokens = sum(1 for off in offsets if off < len(text))
        return prompt_tokens, len(offsets), [float(v) for v in picked]

    # -- transport ----------------------------------------------------------------------------------------------
    def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        """POST with bounded retries; returns the decoded JSON or raises BackendError / BenchError. Waits for one
        of the `max_concurrency` slots, and gives it up while sleeping between retries."""
        url = self.base_url + path
        payload = json.dumps(body).encode()
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self._key:
            headers["Authorization"] = f"Bearer {self._key}"
        attempts = max(1, int(self.cfg.max_attempts))
        problem = ""
        for attempt in range(attempts):
            self._count("requests")
            wait: float | None = None
            try:
                request = urllib.request.Request(url, data=payload, headers=headers, method="POST")
                with self.slots:
                    with urllib.request.urlopen(request, timeout=float(self.cfg.timeout_s)) as response:
                        raw = response.read()
                try:
                    return json.loads(raw)
                except (json.JSONDecodeError, UnicodeDecodeError):
                    problem = f"an answer that is not JSON ({len(raw)} bytes; truncated?)"
            except urllib.error.HTTPError as exc:
                if exc.code in FATAL_STATUS:
                    raise BenchError(f"{url}: HTTP {exc.code}, {FATAL_STATUS[exc.code]}; check llm.base_url, "
                                     f"llm.model and the key in ${self.cfg.api_key_env}") from None
                if exc.code not in RETRY_STATUS:
                    self._count("failed_requests")
                    raise BackendError(f"{url}: HTTP {exc.code} {exc.reason}") from None
                problem = f"HTTP {exc.code} {exc.reason}"
                wait = retry_after_seconds(exc.headers.get("Retry-After") if exc.headers else None)
            except (urllib.error.URLError, ConnectionError, socket.timeout, TimeoutError, OSError) as exc:
                reason = getattr(exc, "reason", exc)
                problem = f"{type(reason).__name__}: {reason}"
            if attempt + 1 < attempts:
                backoff = min(float(self.cfg.backoff_max_s), float(self.cfg.backoff_s) * 2**attempt)
                delay = min(float(self.cfg.retry_after_max_s), wait) if wait is not None else equal_jitter(backoff,
                                                                                                           self.rng)
                log.warning("%s: %s; retry %d/%d in %.2f s", url, problem, attempt + 1, attempts - 1, delay)
                self._count("transport_retries")
                self.sleep(delay)
        self._count("failed_requests")
        raise BackendError(f"{url}: {problem} after {attempts} tries")

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


__all__ = ["OpenAIBackend", "completion_text", "equal_jitter", "retry_after_seconds"]
