"""GRPO maths against hand-computed values."""

from __future__ import annotations

import math

import pytest
import torch

from bench.learners.rlvr.grpo import aggregate, clipped_surrogate, group_advantages, grpo_loss, kl_k3, masked_entropy
from bench.network import NUM_MOVES, masked_log_softmax


def test_group_advantages_hand_computed() -> None:
    rewards = torch.tensor([[1.0, 0.0, 0.0, 1.0], [0.5, 0.5, 0.5, 0.5], [1.0, 0.0, 0.0, 0.0]])
    adv = group_advantages(rewards, scale=True, eps=0.0)
    # group 1: mean 0.5, sample std sqrt(4 * 0.25 / 3) = 0.57735 -> +-0.866025
    assert adv[0].tolist() == pytest.approx([0.866025, -0.866025, -0.866025, 0.866025], abs=1e-5)
    # group 2: all equal -> no signal
    assert adv[1].tolist() == [0.0, 0.0, 0.0, 0.0]
    # group 3: mean 0.25, std sqrt((0.5625 + 3 * 0.0625) / 3) = 0.5 -> 1.5, -0.5
    assert adv[2].tolist() == pytest.approx([1.5, -0.5, -0.5, -0.5], abs=1e-6)
    centred = group_advantages(rewards, scale=False)
    assert centred[2].tolist() == pytest.approx([0.75, -0.25, -0.25, -0.25])


def test_clipped_surrogate_hand_computed() -> None:
    old = torch.log(torch.tensor([0.5, 0.5, 0.5, 0.5]))
    new = torch.log(torch.tensor([0.7, 0.7, 0.25, 0.25]))  # ratios 1.4, 1.4, 0.5, 0.5
    adv = torch.tensor([1.0, -1.0, 1.0, -1.0])
    out = clipped_surrogate(new, old, adv, clip_low=0.2, clip_high=0.2)
    # min(1.4, 1.2) = 1.2; min(-1.4, -1.2) = -1.4; min(0.5, 0.8) = 0.5; min(-0.5, -0.8) = -0.8
    assert out.tolist() == pytest.approx([1.2, -1.4, 0.5, -0.8], abs=1e-6)
    asym = clipped_surrogate(new[:1], old[:1], adv[:1], clip_low=0.2, clip_high=0.28)
    assert asym.item() == pytest.approx(1.28)


def test_kl_k3_hand_computed() -> None:
    new = torch.log(torch.tensor([0.5, 0.3]))
    ref = torch.log(torch.tensor([0.25, 0.3]))
    # d = log(0.25/0.5): 0.5 - log(0.5) - 1 = 0.193147; equal policies give 0
    assert kl_k3(new, ref).tolist() == pytest.approx([0.5 + math.log(2) - 1, 0.0], abs=1e-6)


def test_aggregate_token_and_sequence() -> None:
    values = torch.tensor([1.0, 2.0, 3.0])
    owner = torch.tensor([0, 0, 2])
    assert aggregate(values, owner, 3, "token").item() == pytest.approx(2.0)
    assert aggregate(values, owner, 3, "sequence").item() == pytest.approx((1.5 + 3.0) / 2)
    with pytest.raises(ValueError):
        aggregate(values, owner, 3, "bogus")


def _two_legal_moves() -> tuple[torch.Tensor, torch.Tensor]:
    mask = torch.zeros(1, NUM_MOVES, dtype=torch.bool)
    mask[0, [10, 20]] = True
    return torch.zeros(1, NUM_MOVES, requires_grad=True), mask


def test_grpo_loss_hand_computed() -> None:
    logits, mask = _two_legal_moves()
    logp_all = masked_log_softmax(logits, mask)
    assert masked_entropy(logp_all, mask).item() == pytest.approx(math.log(2))
    parts = grpo_loss(
        logp_all, mask, torch.tensor([10]), torch.log(torch.tensor([0.5])), torch.tensor([2.0]),
        torch.tensor([0]), 1, 0.2, 0.2, entropy_coef=0.1,
    )
    # ratio 1, surrogate 2, entropy log 2: loss = -(2 + 0.1 log 2)
    assert parts.loss.item() == pytest.approx(-(2.0 + 0.1 * math.log(2)), abs=1e-6)
    assert parts.clip_fraction == 0.0


def test_gradient_raises_probability_of_advantaged_move() -> None:
    logits, mask = _two_legal_moves()
    opt = torch.optim.SGD([logits], lr=0.5)
    for _ in range(3):
        logp_all = masked_log_softmax(logits, mask)
        parts = grpo_loss(logp_all, mask, torch.tensor([20]), torch.log(torch.tensor([0.5])), torch.tensor([1.0]),
                          torch.tensor([0]), 1, 0.2, 0.2)
        opt.zero_grad()
        parts.loss.backward()
        opt.step()
    p = masked_log_softmax(logits, mask).exp()[0]
    assert p[20] > 0.6 and p[10] < 0.4
    # past 1 + eps the clipped objective has no gradient: the ratio 1.4 is clipped for a positive advantage
    logp_all = masked_log_softmax(logits.detach().requires_grad_(True), mask)
    parts = grpo_loss(logp_all, mask, torch.tensor([20]), torch.log(p[20:21].detach() / 1.4), torch.tensor([1.0]),
                      torch.tensor([0]), 1, 0.2, 0.2)
    parts.loss.backward()
    assert parts.clip_fraction == 1.0
