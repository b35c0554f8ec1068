"""The OpenAI-compatible HTTP backend (`llm=openai`): vLLM, llama.cpp's server, Ollama, `transformers serve`,
hosted APIs. Standard library only (urllib), so it adds no dependency.

Faults are retried a bounded number of times with exponential backoff: connection refused or reset, timeouts,
HTTP 429 and 5xx (a server's `Retry-After`, in seconds or as an HTTP date, is honoured up to a cap), and answers
that are not the JSON the API promises (truncated bodies). After the last try a `BackendError` makes the player
forfeit that move; the game goes on. 401/403/404 are configuration errors and stop the run with one clear line.
The API key is read from the environment variable named in `llm.api_key_env` and only ever sent as a header.
"""

from __future__ import annotations

import email.utils
import json
import logging
import math
import os
import socket
import threading
import time
import urllib.error
import urllib.request
from typing import Any, Callable

from bench.errors import BenchError
from bench.learners.icl.backends import BackendError, Completion, Scores
from bench.learners.icl.prompts import Prompt

log = logging.getLogger("bench.icl")

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


class OpenAIBackend:
    """Talks to `llm.base_url`; thread-safe (one request at a time keeps a local server and the logs orderly)."""

    can_score = False

    def __init__(self, cfg: Any, sleep: Callable[[float], None] = time.sleep) -> None:
        if not cfg.base_url:
            raise BenchError("llm=openai needs llm.base_url, e.g. llm.base_url=http://127.0.0.1:8000/v1")
        if str(cfg.endpoint) not in ("chat", "completions"):
            raise BenchError(f"llm.endpoint={cfg.endpoint!r}; choose chat or completions")
        self.cfg = cfg
        self.base_url = str(cfg.base_url).rstrip("/")
        self.model = str(cfg.model)
        self.name = f"openai:{self.model}"
        self.parameters = int(cfg.parameters) if cfg.parameters else None
        self.context_window = int(cfg.context_window or 8192)
        self._key = self._api_key(cfg.api_key_env)
        self.sleep = sleep
        self.lock = threading.Lock()
        self.stats = {"requests": 0, "transport_retries": 0, "failed_requests": 0}

    @staticmethod
    def _api_key(env: str | None) -> str | None:
        if not env:
            return None
        key = os.environ.get(str(env))
        if not key:
            raise BenchError(f"llm.api_key_env={env}: that environment variable is not set; export it (the key is "
                             "never written to the config)")
        return key

    def count_tokens(self, text: str) -> int:
        """An estimate (no tokenizer over HTTP): characters / llm.chars_per_token, rounded up."""
        return math.ceil(len(text) / float(self.cfg.chars_per_token))

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
        body.update(dict(self.cfg.request_extra or {}))
        with self.lock:
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

    def score(self, prompt: Prompt, candidates: list[str], end: bool = True) -> Scores:
        raise BenchError("llm=openai cannot score moves (no logits over this API); use learner.mode=generate")

    def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        """POST with bounded retries; returns the decoded JSON or raises BackendError / BenchError."""
        url = self.base_url + path
        payload = json.dumps(body).encode()
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self._key:
            headers["Authorization"] = f"Bearer {self._key}"
        attempts = max(1, int(self.cfg.max_attempts))
        problem = ""
        for attempt in range(attempts):
            self.stats["requests"] += 1
            wait: float | None = None
            try:
                request = urllib.request.Request(url, data=payload, headers=headers, method="POST")
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
                    self.stats["failed_requests"] += 1
                    raise BackendError(f"{url}: HTTP {exc.code} {exc.reason}") from None
                problem = f"HTTP {exc.code} {exc.reason}"
                wait = retry_after_seconds(exc.headers.get("Retry-After") if exc.headers else None)
            except (urllib.error.URLError, ConnectionError, socket.timeout, TimeoutError, OSError) as exc:
                reason = getattr(exc, "reason", exc)
                problem = f"{type(reason).__name__}: {reason}"
            if attempt + 1 < attempts:
                backoff = min(float(self.cfg.backoff_max_s), float(self.cfg.backoff_s) * 2**attempt)
                delay = min(float(self.cfg.retry_after_max_s), wait) if wait is not None else backoff
                log.warning("%s: %s; retry %d/%d in %.1f s", url, problem, attempt + 1, attempts - 1, delay)
                self.stats["transport_retries"] += 1
                self.sleep(delay)
        self.stats["failed_requests"] += 1
        raise BackendError(f"{url}: {problem} after {attempts} tries")

    def close(self) -> None:
        pass


__all__ = ["OpenAIBackend", "completion_text", "retry_after_seconds"]
