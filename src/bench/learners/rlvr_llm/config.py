"""Config schema of the rlvr_llm learner: GRPO from verifiable rewards on a language model (issue 15).

Light module: no torch or transformers at import. `conf/learner/rlvr_llm.yaml` extends it. The pieces that are
another learner's live there and are imported, not copied: the GRPO switches, the task pool and the task generators
are rlvr's (`bench.learners.rlvr.config`), the prompt templates are icl's (`bench.learners.icl.config`, the text in
`conf/prompts/`), so icl and rlvr_llm read the same text for the same position.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import List, Optional

from bench.config import LearnerConfig
from bench.learners.icl.config import PromptConfig
from bench.learners.rlvr.config import GeneratorConfig, GrpoConfig, PoolConfig

ACTIONS = ("choice", "text")
TRAINS = ("lora", "full")
WARM_STARTS = ("none", "sft")


@dataclass
class AdapterConfig:
    """The LoRA adapter trained by `train=lora` (peft; Hu et al. 2021). Read by icl's `attach_adapter`."""

    rank: int = 16
    """LoRA rank r."""
    alpha: float = 32.0
    """Scaling numerator: the update is (alpha / r) B A."""
    dropout: float = 0.0
    target_modules: List[str] = field(default_factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj"])
    """Linear layers that get an adapter."""
    top_layers: int = 0
    """Adapters only in the last this many transformer blocks (0: every block). Gradients then stop there, so a
    training step costs a forward pass plus the backward pass of those blocks only."""


@dataclass
class HeldoutConfig:
    """A fixed task set scored at every evaluation point and never trained on (its positions are refused by the
    training generators)."""

    path: Optional[str] = "mate_in_one.epd"
    """EPD/FEN file (relative paths under conf/tasks/); None: no held-out set."""
    count: int = 64
    """Tasks drawn from the file (seeded by `seed`); 0 takes them all."""
    seed: int = 12345
    """Which tasks are drawn (fixed across runs and seeds, so every run is scored on the same set)."""
    verifier: str = "mate"
    """Verifier for lines that name none (rlvr's verifiers)."""
    horizon: int = 1
    mate_in: int = 1


@dataclass
class FamilyConfig:
    """What the learner is taught (issue 19): `chess` (the generators and held-out set above) or a non-chess family
    of `families.py`, whose generators, checker and held-out set then replace them (action=choice only)."""

    name: str = "chess"
    """chess | addition | sort | reverse | logic."""
    difficulty: List[int] = field(default_factory=lambda: [3])
    """One training generator per difficulty (equal weights; digits, list length or people); rlvr's pool keeps the
    instances inside its success band."""
    choices: int = 6
    """Candidates per problem: the right answer and `choices - 1` plausible wrong ones."""
    heldout_fraction: float = 0.2
    """Share of each (family, difficulty) instance space reserved for the held-out set (a key hash decides)."""
    heldout_count: int = 64
    """Held-out problems (distinct keys, drawn with `heldout_seed`)."""
    heldout_seed: int = 12345
    heldout_difficulty: int = 0
    """Difficulty of the held-out problems (0: the largest of `difficulty`)."""


@dataclass
class TextConfig:
    """action=text: the model writes its answer, icl's parser reads the move out of it."""

    max_tokens: int = 8
    """Tokens the model may write per answer (a short reasoning needs more, and costs more)."""
    format_penalty: float = -0.5
    """Reward of an answer with no legal move in it (unparseable or illegal); sampling is from the full softmax at
    `grpo.temperature` (no top-k), so every sampled token's log-probability is exact."""


@dataclass
class SftConfig:
    """learner.warm_start=sft: a supervised phase on Stockfish's best moves before GRPO (as chess RLVR papers do)."""

    positions: int = 64
    """Positions drawn from the training generators and labelled by Stockfish."""
    nodes: int = 5000
    """Stockfish nodes per label (counted as verifier calls and engine nodes)."""
    steps: int = 32
    """Optimiser steps."""
    batch: int = 4
    """Positions per step."""
    lr: float = 1.0e-4


@dataclass
class RlvrLlmConfig(LearnerConfig):
    name: str = "rlvr_llm"
    action: str = "choice"
    """`choice`: the policy is the softmax over every legal move's log-likelihood after the prompt (each action legal,
    its log-probability exact); `text`: the model writes its answer and a parser extracts the move."""
    train: str = "lora"
    """`lora`: a peft LoRA adapter (the base weights never change; the KL reference is the model with the adapter
    disabled, no second copy); `full`: every weight (the KL reference is a frozen copy)."""
    adapter: AdapterConfig = field(default_factory=AdapterConfig)
    grpo: GrpoConfig = field(default_factory=GrpoConfig)
    """rlvr's GRPO switches; `minibatch` counts positions (prompts) per optimiser step here."""
    pool: PoolConfig = field(default_factory=PoolConfig)
    """rlvr's autocurriculum task pool."""
    generators: list[GeneratorConfig] = field(default_factory=lambda: [GeneratorConfig()])
    """rlvr's task generators and their mix."""
    heldout: HeldoutConfig = field(default_factory=HeldoutConfig)
    family: FamilyConfig = field(default_factory=FamilyConfig)
    """chess (default) or another verifiable task family, for seed claim 2's yardstick (issue 19)."""
    text: TextConfig = field(default_factory=TextConfig)
    warm_start: str = "none"
    """`none`: GRPO from the base model; `sft`: a supervised phase on engine-best moves first (`sft`)."""
    sft: SftConfig = field(default_factory=SftConfig)
    score_end: bool = True
    """A move's log-likelihood includes the end-of-turn token after it (as icl's score mode)."""
    eval_temperature: float = 0.0
    """The evaluated player: 0 plays the most likely legal move (icl's score mode), > 0 samples."""
    threads: int = 0
    """torch threads while learning (0: the machine's cores)."""
    engine_workers: int = 1
    """Stockfish processes for the verifiers, the opponents of multi-move tasks and the SFT labels."""
    rollout_buffer: int = 2000
    """Positions kept from earlier rollouts for rlvr's `rollouts` source."""
    log_every: int = 5
    """Log a one-line summary every this many steps (0: never)."""
    prompts: PromptConfig = field(default_factory=PromptConfig)
    """icl's templates from conf/prompts/ (default.yaml; `prompts@learner.prompts=coach` picks another)."""


__all__ = ["ACTIONS", "AdapterConfig", "FamilyConfig", "HeldoutConfig", "RlvrLlmConfig", "SftConfig", "TRAINS",
           "TextConfig", "WARM_STARTS"]
