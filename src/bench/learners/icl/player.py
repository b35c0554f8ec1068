"""The icl player: a language model with a frozen history block choosing moves by score or by generation.

Every move's cost travels in its `MoveResult` (tokens in and out, FLOPs, seconds, illegal answers, forfeits) and is
added to a shared `Tally`, from which the learner reports per evaluation and to the compute meter.

FLOPs (`flops_method`): a backend whose model runs in this process (`llm=embedded`: a torch module in
`backend.model`) is measured call by call with `bench.compute.count_flops`, FlopCounterMode's formulas over the
forward passes it actually ran: every token run (prompt tokens not served from the prefix cache, candidates or
generated tokens) through every layer, attention over the whole context it attends to, and the output layer only
where logits are kept. A backend whose model is elsewhere (HTTP, llama.cpp) falls back to 2 x N x tokens run
(Kaplan et al. 2020), which leaves attention out: its architecture is unknown here.
"""

from __future__ import annotations

import logging
import math
import random
import threading
import time
from contextlib import nullcontext
from dataclasses import dataclass, field, fields
from typing import Any

import chess

from bench.compute import MeasuredFlops, count_flops, lm_forward_flops
from bench.errors import BenchError
from bench.learners.icl.backends import Backend, BackendError
from bench.learners.icl.parsing import parse_move
from bench.learners.icl.prompts import PromptBuilder
from bench.players import MoveResult, PlayerBase

log = logging.getLogger("bench.icl")


@dataclass
class Tally:
    """Totals over many moves (thread-safe): what the learner logs per evaluation and for training."""

    moves: int = 0
    illegal: int = 0
    """Illegal or unparsable answers (generate mode)."""
    retries: int = 0
    """Answers asked for again after an illegal one."""
    forfeits: int = 0
    """Moves where no legal answer came (or the backend failed) and a random legal move was played."""
    backend_errors: int = 0
    """Requests that failed after all their transport retries (each one also a forfeit)."""
    calls: int = 0
    """Model calls: forward passes over a prompt (one per move in score mode, one per answer asked in generate
    mode; generated tokens extend the same sequence)."""
    tokens_in: int = 0
    tokens_out: int = 0
    tokens_run: int = 0
    """Tokens actually run through the model (prompt tokens not served from the prefix cache, plus answers)."""
    flops: float = 0.0
    """FLOPs of the model calls (`flops_method`)."""
    seconds: float = 0.0
    dollars: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, **counts: float) -> None:
        with self._lock:
            for key, value in counts.items():
                setattr(self, key, getattr(self, key) + value)

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            data = {f.name: getattr(self, f.name) for f in fields(self) if not f.name.startswith("_")}
        data["seconds_per_move"] = round(data["seconds"] / data["moves"], 4) if data["moves"] else None
        data["seconds"], data["dollars"] = round(data["seconds"], 3), round(data["dollars"], 6)
        return data

    def take(self) -> dict[str, Any]:
        """The snapshot, then reset to zero (per-evaluation figures)."""
        data = self.snapshot()
        with self._lock:
            for key in data:
                if hasattr(self, key) and not key.startswith("_"):
                    setattr(self, key, type(getattr(self, key))(0))
        return data

    def load(self, data: dict[str, Any]) -> None:
        with self._lock:
            for key, value in data.items():
                if hasattr(self, key) and not key.startswith("_") and key != "seconds_per_move":
                    setattr(self, key, type(getattr(self, key))(value))


def flops_method(backend: Backend) -> str:
    """How the player counts a backend's FLOPs (see the module's docstring)."""
    if measures_flops(backend):
        return "measured: FlopCounterMode formulas over the model's forward passes, attention over the context included"
    if backend.parameters:
        return "estimated: 2 x parameters x tokens run (remote model: attention not counted)"
    return "unknown: no parameter count (set llm.parameters)"


def measures_flops(backend: Backend) -> bool:
    model = getattr(backend, "model", None)
    return model is not None and hasattr(model, "named_parameters") and callable(model)


@dataclass(frozen=True)
class PlaySettings:
    """How the player picks moves (from the learner's config)."""

    mode: str = "score"
    temperature: float = 0.0
    score_norm: str = "sum"
    score_end: bool = True
    max_retries: int = 2
    max_answer_tokens: int = 12
    dollars_per_mtok_in: float = 0.0
    dollars_per_mtok_out: float = 0.0


class IclPlayer(PlayerBase):
    """Plays as the language model does with `history` (text) in its prompt. Shares the backend; owns nothing."""

    def __init__(self, name: str, backend: Backend, builder: PromptBuilder, history: str, settings: PlaySettings,
                 tally: Tally, seed: int = 0, weights_version: int | None = None) -> None:
        self.name = name
        self.backend = backend
        self.builder = builder
        self.history = history
        self.settings = settings
        self.tally = tally
        self.rng = random.Random(seed)
        self.seed = seed
        self.weights_version = weights_version
        """The backend's weights version this player was made at (memory=lora): it refuses to play at another."""

    def new_game(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.seed = seed

    def play(self, board: chess.Board) -> MoveResult:
        if self.weights_version is not None and getattr(self.backend, "weights_version", 0) != self.weights_version:
            raise BenchError(f"{self.name}: the model's adapter changed while this player was playing (made at "
                             f"weights version {self.weights_version}, now {self.backend.weights_version})")
        start = time.perf_counter()
        cost: dict[str, int] = {"tokens_in": 0, "tokens_out": 0, "tokens_run": 0, "illegal": 0, "retries": 0,
                                "calls": 0}
        measuring = measures_flops(self.backend)  # thread-local: concurrent players each count their own calls
        with count_flops() if measuring else nullcontext(MeasuredFlops()) as measured:
            try:
                move = self._score(board, cost) if self.settings.mode == "score" else self._generate(board, cost)
            except BackendError as exc:
                log.warning("%s: %s; playing a random legal move (forfeit)", self.name, exc)
                move, cost["backend_errors"] = None, 1
        forfeit = move is None
        if forfeit:
            move = self.rng.choice(list(board.legal_moves))
        tokens_in, tokens_out = cost.get("tokens_in", 0), cost.get("tokens_out", 0)
        if measuring:
            flops = measured.total
        else:
            flops = lm_forward_flops(self.backend.parameters or 0, cost.get("tokens_run", 0))
        dollars = (tokens_in * self.settings.dollars_per_mtok_in + tokens_out * self.settings.dollars_per_mtok_out) / 1e6
        seconds = time.perf_counter() - start
        self.tally.add(moves=1, forfeits=int(forfeit), flops=flops, seconds=seconds, dollars=dollars, **cost)
        return MoveResult(move=move, flops=flops, tokens_in=tokens_in, tokens_out=tokens_out, seconds=seconds,
                          illegal=cost.get("illegal", 0), forfeit=forfeit,
                          comment="forfeit: no legal answer, random legal move" if forfeit else "")

    def _score(self, board: chess.Board, cost: dict[str, int]) -> chess.Move:
        legal = list(board.legal_moves)
        answers = [self.builder.answer(self.builder.san(board, m)) for m in legal]
        scores = self.backend.score(self.builder.prompt(self.history, board), answers, end=self.settings.score_end)
        values = [lp / n if self.settings.score_norm == "mean" else lp for lp, n in zip(scores.logprobs, scores.lengths)]
        if self.settings.temperature > 0:
            top = max(values)
            weights = [math.exp((v - top) / self.settings.temperature) for v in values]
            index = self.rng.choices(range(len(legal)), weights=weights)[0]
        else:
            index = max(range(len(legal)), key=values.__getitem__)
        cost.update(tokens_in=scores.tokens_in, tokens_out=scores.tokens_out, tokens_run=scores.processed, calls=1)
        return legal[index]

    def _generate(self, board: chess.Board, cost: dict[str, int]) -> chess.Move | None:
        """Ask, parse, explain and ask again up to `max_retries` times; None when no legal answer came."""
        prompt = self.builder.prompt(self.history, board)
        choices = self.builder.legal_sans(board)
        for attempt in range(self.settings.max_retries + 1):
            if attempt:
                cost["retries"] += 1
            answer = self.backend.generate(prompt, self.settings.max_answer_tokens, self.settings.temperature,
                                           seed=self.rng.randrange(2**31), choices=choices)
            cost["calls"] += 1
            cost["tokens_in"] += answer.tokens_in
            cost["tokens_out"] += answer.tokens_out
            cost["tokens_run"] += answer.processed
            parsed = parse_move(answer.text, board)
            if parsed.move is not None:
                return parsed.move
            cost["illegal"] += 1
            reason = parsed.reason if answer.finish != "length" or answer.text.strip() else "the answer was cut off"
            prompt = prompt.with_turns(("assistant", answer.text.strip()),
                                       ("user", self.builder.retry(answer.text, reason, board)))
        return None


__all__ = ["IclPlayer", "PlaySettings", "Tally", "flops_method", "measures_flops"]
