"""The language model as a policy over legal moves (action=choice), differentiable, and GRPO's per-move objective.

A move's score is the log-likelihood the model gives its answer text (icl's `answer` template filled with the SAN,
plus the end-of-turn token with `score_end`) after the prompt icl's templates build for the position: exactly what
icl's score mode ranks moves by. The policy is the softmax of those scores over the legal moves, at temperature T:

    pi(a | s) = exp(l(a) / T) / sum_b exp(l(b) / T),   l(a) = sum_t log p(answer_t(a) | prompt(s), answer_<t(a))

so every action is legal and its log-probability is exact. Sampling uses icl's scoring (`EmbeddedBackend.score`:
no gradient, its prefix key/value cache); training runs the same computation with gradients in one forward pass:
the prompt and every candidate packed into one sequence (candidates sharing first tokens share positions, icl's
`TokenTrie`), a 4D mask letting each candidate see the prompt and its own earlier tokens only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import chess
import torch

from bench.learners.icl.embedded import TokenTrie
from bench.learners.icl.prompts import PromptBuilder
from bench.learners.rlvr.grpo import clipped_surrogate, kl_k3


def candidates(builder: PromptBuilder, board: chess.Board) -> tuple[list[chess.Move], list[str]]:
    """The legal moves of `board` and their answer texts (icl's `answer` template with the SAN)."""
    legal = list(board.legal_moves)
    return legal, [builder.answer(builder.san(board, m)) for m in legal]


@dataclass(frozen=True)
class Packed:
    """One position's prompt and candidates as a single sequence for a gradient-carrying forward pass."""

    ids: torch.Tensor
    """[1, n + nodes] token ids: the prompt, then the candidates' token trie."""
    mask: torch.Tensor
    """[1, 1, L, L] additive attention mask (0 where attention is allowed)."""
    positions: torch.Tensor
    """[1, L] position ids (a trie node sits at prompt length + its depth)."""
    keep: torch.Tensor
    """Rows whose logits are needed: the prompt's last token and every trie node with children."""
    gather_rows: torch.Tensor
    """[nodes] for each trie node, the row (of the kept logits) that predicts it."""
    gather_tokens: torch.Tensor
    """[nodes] each trie node's token."""
    paths: list[list[int]]
    """For each candidate, its trie nodes."""
    prompt_tokens: int

    @property
    def length(self) -> int:
        return int(self.ids.shape[1])


def pack(prompt_ids: list[int], answers: list[list[int]]) -> Packed:
    """Pack a prompt and candidate answers (token ids) into one sequence with a trie-shaped attention mask."""
    trie = TokenTrie(answers)
    n, nodes = len(prompt_ids), len(trie.tokens)
    total = n + nodes
    neg = torch.finfo(torch.float32).min
    mask = torch.full((total, total), neg)
    mask[:n, :n] = torch.triu(torch.full((n, n), neg), diagonal=1)
    mask[n:, :n] = 0.0
    for node, ancestors in enumerate(trie.lineage()):
        mask[n + node, [n + a for a in ancestors]] = 0.0
    positions = list(range(n)) + [n + d for d in trie.depths]
    rows = trie.predicting_nodes()
    row_of = {-1: 0, **{node: i + 1 for i, node in enumerate(rows)}}
    return Packed(
        ids=torch.tensor([prompt_ids + trie.tokens]),
        mask=mask[None, None],
        positions=torch.tensor([positions]),
        keep=torch.tensor([n - 1] + [n + r for r in rows]),
        gather_rows=torch.tensor([row_of[p] for p in trie.parents]),
        gather_tokens=torch.tensor(trie.tokens),
        paths=trie.paths,
        prompt_tokens=n,
    )


def move_logliks(model: Any, packed: Packed) -> torch.Tensor:
    """[candidates] summed log-likelihood of each candidate answer after the prompt (differentiable through `model`)."""
    out = model(input_ids=packed.ids, attention_mask=packed.mask, position_ids=packed.positions, use_cache=False,
                logits_to_keep=packed.keep)
    logp = torch.log_softmax(out.logits[0].float(), dim=-1)
    node_logp = logp[packed.gather_rows, packed.gather_tokens]
    return torch.stack([node_logp[path].sum() for path in packed.paths])


def policy_logprobs(logliks: torch.Tensor, temperature: float) -> torch.Tensor:
    """log pi over the legal moves: log_softmax(l / T)."""
    return torch.log_softmax(logliks / max(float(temperature), 1e-6), dim=-1)


def entropy(logp: torch.Tensor) -> torch.Tensor:
    """Entropy of a distribution given its log-probabilities (nats)."""
    return -(logp.exp() * logp).sum()


def move_objective(logp: torch.Tensor, actions: torch.Tensor, logp_old: torch.Tensor, advantages: torch.Tensor,
                   weights: torch.Tensor, clip_low: float, clip_high: float, kl_coef: float = 0.0,
                   logp_ref: torch.Tensor | None = None, entropy_coef: float = 0.0) -> dict[str, torch.Tensor]:
    """GRPO's objective for the moves chosen at one position (to be maximised), as a weighted sum over the moves.

    `logp` [L] the current policy's log-probs over the L legal moves; `actions` [M] the chosen moves' indices;
    `logp_old` [M] their log-probs when sampled; `advantages` [M]; `weights` [M] each move's share of the step's
    mean (1/moves for `loss_agg=token`, 1/(rollouts x rollout length) for `sequence`); `logp_ref` [L] the reference
    policy's log-probs. Per move: clip(ratio) A (rlvr's `clipped_surrogate`) - beta KL_k3 (rlvr's `kl_k3`) + c H.
    """
    logp_new = logp[actions]
    surrogate = clipped_surrogate(logp_new, logp_old, advantages, clip_low, clip_high)
    per_move = surrogate
    kl = torch.zeros_like(surrogate)
    if kl_coef > 0.0 and logp_ref is not None:
        kl = kl_k3(logp_new, logp_ref[actions])
        per_move = per_move - kl_coef * kl
    h = entropy(logp)
    if entropy_coef > 0.0:
        per_move = per_move + entropy_coef * h
    with torch.no_grad():
        ratio = torch.exp(logp_new - logp_old)
        clipped = ((ratio < 1.0 - clip_low) | (ratio > 1.0 + clip_high)).float()
    return {"objective": (weights * per_move).sum(), "surrogate": (weights * surrogate).sum().detach(),
            "kl": (weights * kl).sum().detach(), "entropy": h.detach() * weights.sum(),
            "clipped": (weights * clipped).sum()}


__all__ = ["Packed", "candidates", "entropy", "move_logliks", "move_objective", "pack", "policy_logprobs"]
