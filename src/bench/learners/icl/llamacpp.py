"""The llama.cpp backend (`llm=llamacpp`): a GGUF model through llama-cpp-python, answers constrained to legal moves.

Optional: llama-cpp-python compiles from source (about 8 minutes on 2 cores), so it is an extra of its own
(`pip install llama-cpp-python`). With `llm.grammar=true` every answer is drawn from a GBNF grammar whose only
sentences are the legal moves, so illegal answers cannot happen; the answer is still parsed like any other.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from bench.errors import BenchError
from bench.learners.icl.backends import Completion, Scores
from bench.learners.icl.prompts import Prompt


def moves_grammar(choices: list[str]) -> str:
    """A GBNF grammar (llama.cpp's grammar format) whose sentences are exactly `choices`."""
    if not choices:
        raise ValueError("no legal moves to build a grammar from")
    alternatives = " | ".join('"' + c.replace("\\", "\\\\").replace('"', '\\"') + '"' for c in choices)
    return f"root ::= {alternatives}\n"


class LlamaCppBackend:
    """llama-cpp-python in this process; thread-safe (calls are serialised)."""

    can_score = False

    def __init__(self, cfg: Any) -> None:
        try:
            from llama_cpp import Llama, LlamaGrammar
        except ImportError as exc:
            raise BenchError("llm=llamacpp needs `pip install llama-cpp-python` (compiles from source, ~8 min); "
                             "or use llm=embedded") from exc
        self._grammar_cls = LlamaGrammar
        if str(cfg.model) == "smollm2":
            from bench.learners.icl.embedded import smollm2_gguf

            path = smollm2_gguf()
        else:
            path = Path(str(cfg.model)).expanduser()
        if not path.is_file():
            raise BenchError(f"llm.model={cfg.model}: no such GGUF file")
        self.context_window = int(cfg.context_window or 4096)
        kwargs: dict[str, Any] = {"model_path": str(path), "n_ctx": self.context_window, "verbose": False}
        if int(cfg.threads or 0) > 0:
            kwargs["n_threads"] = int(cfg.threads)
        self.llm = Llama(**kwargs)
        self.name = f"llamacpp:{path.name}"
        self.parameters = int(cfg.parameters) if cfg.parameters else self._parameters()
        self.use_grammar = bool(cfg.grammar)
        self.lock = threading.Lock()

    def _parameters(self) -> int | None:
        """Parameters from llama.cpp's C API (its Python wrapping differs across versions: None if not found;
        set llm.parameters to count FLOPs then)."""
        try:
            import llama_cpp

            return int(llama_cpp.llama_model_n_params(self.llm._model.model))
        except (AttributeError, TypeError):
            return None

    def count_tokens(self, text: str) -> int:
        with self.lock:
            return len(self.llm.tokenize(text.encode(), add_bos=False, special=True))

    def generate(self, prompt: Prompt, max_tokens: int, temperature: float = 0.0, seed: int = 0,
                 choices: list[str] | None = None) -> Completion:
        grammar = None
        if self.use_grammar and choices:
            grammar = self._grammar_cls.from_string(moves_grammar(choices), verbose=False)
        with self.lock:
            out = self.llm.create_chat_completion(messages=prompt.messages(), max_tokens=int(max_tokens),
                                                  temperature=float(temperature), seed=int(seed), grammar=grammar)
        choice = out["choices"][0]
        text = choice["message"].get("content") or ""
        usage = out.get("usage") or {}
        tokens_in, tokens_out = int(usage.get("prompt_tokens", 0)), int(usage.get("completion_tokens", 0))
        finish = "length" if choice.get("finish_reason") == "length" else "stop"
        return Completion(text, tokens_in, tokens_out, processed=tokens_in + tokens_out, finish=finish)

    def score(self, prompt: Prompt, candidates: list[str], end: bool = True) -> Scores:
        raise BenchError("llm=llamacpp plays in generate mode (its grammar keeps moves legal); set learner.mode=generate")

    def close(self) -> None:
        self.llm = None


__all__ = ["LlamaCppBackend", "moves_grammar"]
