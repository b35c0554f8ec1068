"""GRPO maths: group-relative advantages, the clipped policy-ratio objective, the KL penalty and the entropy bonus.

Group Relative Policy Optimization (Shao et al. 2024, "DeepSeekMath", sec. 4.1.2, eq. 3): for each task a group
of G rollouts is sampled, each rollout's advantage is its reward normalised within the group, and every move
(token) of the rollout is trained with PPO's clipped ratio objective (Schulman et al. 2017, eq. 7), minus
beta times an unbiased KL estimate to a reference policy; there is no value network.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


def group_advantages(rewards: torch.Tensor, scale: bool = True, eps: float = 1e-4) -> torch.Tensor:
    """Advantages [T, G] from rewards [T, G]: (r - mean_group) / (std_group + eps) (DeepSeekMath eq. 3 with
    outcome supervision; std is the sample std as in TRL's GRPOTrainer); `scale=False` only centres (Dr. GRPO,
    Liu et al. 2025). A group whose rewards are all equal gets zero advantages."""
    mean = rewards.mean(dim=1, keepdim=True)
    centred = rewards - mean
    if not scale:
        return centred
    std = rewards.std(dim=1, keepdim=True, unbiased=True) if rewards.shape[1] > 1 else torch.zeros_like(mean)
    return torch.where(std > 0, centred / (std + eps), torch.zeros_like(centred))


def clipped_surrogate(
    logp_new: torch.Tensor, logp_old: torch.Tensor, advantages: torch.Tensor, clip_low: float, clip_high: float
) -> torch.Tensor:
    """Per-move PPO objective min(r A, clip(r, 1 - eps_low, 1 + eps_high) A), r = exp(logp_new - logp_old)
    (Schulman et al. 2017 eq. 7; asymmetric clip-higher from DAPO, Yu et al. 2025). To be maximised."""
    ratio = torch.exp(logp_new - logp_old)
    clipped = torch.clamp(ratio, 1.0 - clip_low, 1.0 + clip_high)
    return torch.minimum(ratio * advantages, clipped * advantages)


def kl_k3(logp_new: torch.Tensor, logp_ref: torch.Tensor) -> torch.Tensor:
    """Per-move KL(pi || pi_ref) estimate exp(ref - new) - (ref - new) - 1, >= 0 (Schulman 2020, "Approximating
    KL divergence", k3; DeepSeekMath eq. 4)."""
    d = logp_ref - logp_new
    return torch.exp(d) - d - 1.0


def masked_entropy(logp_all: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Entropy over legal moves of each row, from masked log-probs (illegal entries -inf)."""
    p = logp_all.exp()
    return -(p * torch.where(mask, logp_all, torch.zeros_like(logp_all))).sum(dim=-1)


@dataclass
class LossParts:
    loss: torch.Tensor
    surrogate: float
    kl: float
    entropy: float
    clip_fraction: float


def aggregate(per_move: torch.Tensor, rollout_index: torch.Tensor, rollouts: int, mode: str) -> torch.Tensor:
    """Mean of per-move values: `token` averages over all moves (DAPO); `sequence` averages each rollout's moves
    first, then the rollouts (GRPO's 1/G sum_i 1/|o_i| sum_t)."""
    if mode == "token":
        return per_move.mean()
    if mode == "sequence":
        sums = torch.zeros(rollouts, dtype=per_move.dtype).index_add_(0, rollout_index, per_move)
        counts = torch.zeros(rollouts, dtype=per_move.dtype).index_add_(0, rollout_index, torch.ones_like(per_move))
        present = counts > 0
        return (sums[present] / counts[present]).mean()
    raise ValueError(f"loss_agg must be 'token' or 'sequence', not {mode!r}")


def grpo_loss(
    logp_all: torch.Tensor,
    mask: torch.Tensor,
    actions: torch.Tensor,
    logp_old: torch.Tensor,
    advantages: torch.Tensor,
    rollout_index: torch.Tensor,
    rollouts: int,
    clip_low: float,
    clip_high: float,
    kl_coef: float = 0.0,
    logp_ref: torch.Tensor | None = None,
    entropy_coef: float = 0.0,
    loss_agg: str = "token",
) -> LossParts:
    """The loss to minimise: -(surrogate - beta KL + c H), aggregated over moves by `loss_agg`.

    `logp_all` [M, 4672] masked log-probs of the current policy at M moves; `actions` [M] chosen indices;
    `logp_old` [M] their log-probs when sampled; `advantages` [M] the rollout's advantage repeated per move;
    `rollout_index` [M] which rollout each move belongs to.
    """
    logp_new = logp_all.gather(1, actions[:, None]).squeeze(1)
    surrogate = clipped_surrogate(logp_new, logp_old, advantages, clip_low, clip_high)
    objective = surrogate
    kl_value = torch.zeros(())
    if kl_coef > 0.0 and logp_ref is not None:
        kl = kl_k3(logp_new, logp_ref)
        objective = objective - kl_coef * kl
        kl_value = kl.mean()
    entropy = masked_entropy(logp_all, mask)
    if entropy_coef > 0.0:
        objective = objective + entropy_coef * entropy
    loss = -aggregate(objective, rollout_index, rollouts, loss_agg)
    with torch.no_grad():
        ratio = torch.exp(logp_new - logp_old)
        clipped = ((ratio < 1.0 - clip_low) | (ratio > 1.0 + clip_high)).float().mean()
    return LossParts(
        loss=loss,
        surrogate=float(surrogate.mean().detach()),
        kl=float(kl_value.detach()),
        entropy=float(entropy.mean().detach()),
        clip_fraction=float(clipped),
    )
