"""The OpenAI `/v1/completions` and `/v1/chat/completions` shapes: a posted body checked and turned into a job for a
slot, and a slot's result turned into the answer. A request the server cannot serve is a RequestError (a 4xx)."""

from __future__ import annotations

import time
from typing import Any

MAX_LOGPROBS = 20
"""The most top alternatives per token (vLLM's default cap)."""
MAX_NEW_TOKENS = 512
UNSUPPORTED = ("structured_outputs", "guided_choice", "guided_regex", "guided_json", "guided_grammar", "grammar",
               "response_format", "tools", "best_of", "suffix")
"""Fields that change what a server must return; refused rather than silently ignored."""


class RequestError(Exception):
    """A request the server cannot serve: answered with `status` and a JSON error, the server goes on."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _int(body: dict[str, Any], key: str, default: int | None, low: int, high: int) -> int | None:
    value = body.get(key)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise RequestError(400, f"`{key}` must be an integer from {low} to {high}, got {value!r}")
    return value


def parse_request(path: str, body: Any, names: set[str]) -> dict[str, Any]:
    """The job a slot runs for `body` posted to `path` (/v1/completions or /v1/chat/completions), or RequestError."""
    if not isinstance(body, dict):
        raise RequestError(400, "the request body must be a JSON object")
    model = body.get("model")
    if model is not None and str(model) not in names:
        raise RequestError(404, f"the model `{model}` does not exist (GET /v1/models names the one served)")
    refused = [key for key in UNSUPPORTED if body.get(key) not in (None, False, [], {})]
    if refused:
        raise RequestError(400, f"`{refused[0]}` is not supported by this server")
    if body.get("stream"):
        raise RequestError(400, "`stream` is not supported by this server")
    if body.get("n") not in (None, 1):
        raise RequestError(400, "only `n`=1 is supported")
    temperature = body.get("temperature", 1.0)
    if isinstance(temperature, bool) or not isinstance(temperature, (int, float)) or not 0 <= temperature <= 100:
        raise RequestError(400, f"`temperature` must be a number from 0 to 100, got {temperature!r}")
    stop = body.get("stop") or []
    stop = [stop] if isinstance(stop, str) else stop
    if not isinstance(stop, list) or not all(isinstance(s, str) and s for s in stop):
        raise RequestError(400, "`stop` must be a string or a list of non-empty strings")
    job: dict[str, Any] = {"max_tokens": _int(body, "max_tokens", 16, 0, MAX_NEW_TOKENS),
                           "temperature": float(temperature), "seed": _int(body, "seed", 0, -(2**63), 2**63 - 1),
                           "stop": stop}
    if path.endswith("/chat/completions"):
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages or not all(
                isinstance(m, dict) and isinstance(m.get("role"), str) and isinstance(m.get("content"), str)
                for m in messages):
            raise RequestError(400, "`messages` must be a non-empty list of {role, content} objects with text content")
        if body.get("logprobs") or body.get("echo"):
            raise RequestError(400, "`logprobs` and `echo` are supported on /v1/completions only")
        return {**job, "messages": messages, "echo": False, "logprobs": None}
    prompt = body.get("prompt")
    if isinstance(prompt, list) and len(prompt) == 1:
        prompt = prompt[0]
    if not isinstance(prompt, str) or not prompt:
        raise RequestError(400, "`prompt` must be one non-empty string (lists of prompts and token ids are not "
                                "supported)")
    echo = body.get("echo", False)
    if not isinstance(echo, bool):
        raise RequestError(400, f"`echo` must be true or false, got {echo!r}")
    return {**job, "prompt": prompt, "echo": echo, "logprobs": _int(body, "logprobs", None, 0, MAX_LOGPROBS)}


def response(path: str, model: str, result: dict[str, Any]) -> dict[str, Any]:
    """The OpenAI-shaped answer for a slot's result."""
    choice: dict[str, Any] = {"index": 0, "finish_reason": result["finish_reason"]}
    if path.endswith("/chat/completions"):
        kind = "chat.completion"
        choice["message"] = {"role": "assistant", "content": result["text"]}
    else:
        kind = "text_completion"
        choice.update(text=result["text"], logprobs=result["logprobs"])
    usage = {"prompt_tokens": result["prompt_tokens"], "completion_tokens": result["completion_tokens"],
             "total_tokens": result["prompt_tokens"] + result["completion_tokens"]}
    return {"id": f"cmpl-{time.time_ns():x}", "object": kind, "created": int(time.time()), "model": model,
            "choices": [choice], "usage": usage}
