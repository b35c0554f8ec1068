"""Training steps on replay batches: policy cross-entropy + value loss, AdamW's weight decay as the L2 term.

Loss as in AlphaZero (Silver et al. 2018): l = -pi^T log p + c_v * value_loss + c ||theta||^2, with the value
loss a cross-entropy on win/draw/loss (soft target when the outcome is mixed with the search value) or the
squared error of a scalar head. FLOPs of a step (forward + backward) are measured once per batch shape.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from bench.compute import FlopCounter
from bench.network import PolicyValueNet


def wdl_target(score: torch.Tensor) -> torch.Tensor:
    """A soft win/draw/loss target with expected score `score` in [-1, 1]: (max(s,0), 1-|s|, max(-s,0))."""
    return torch.stack([score.clamp(min=0), 1 - score.abs(), (-score).clamp(min=0)], dim=-1)


class Trainer:
    """Owns the optimizer; `step(batch)` runs one update and returns its losses and measured FLOPs."""

    def __init__(self, net: PolicyValueNet, cfg: Any, device: str = "cpu", counter: FlopCounter | None = None) -> None:
        self.net = net
        self.cfg = cfg
        self.device = torch.device(device)
        self.counter = counter or FlopCounter()
        self.optimizer = torch.optim.AdamW(net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        self.steps = 0

    def step(self, planes: np.ndarray, policy: np.ndarray, outcome: np.ndarray, root_q: np.ndarray) -> dict[str, float]:
        x = torch.from_numpy(planes).to(self.device)
        pi = torch.from_numpy(policy).to(self.device)
        w = float(self.cfg.value_target_q_weight)
        z = torch.from_numpy((1 - w) * outcome + w * root_q).float().to(self.device)
        losses: dict[str, float] = {}

        def run() -> None:
            self.net.train()
            logits, value = self.net(x)
            policy_loss = -(pi * F.log_softmax(logits, dim=-1)).sum(-1).mean()
            if self.net.value_head == "wdl":
                value_loss = -(wdl_target(z) * F.log_softmax(value, dim=-1)).sum(-1).mean()
            else:
                value_loss = F.mse_loss(value, z)
            loss = policy_loss + self.cfg.value_loss_weight * value_loss
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            losses["policy"] = float(policy_loss.detach())
            losses["value"] = float(value_loss.detach())
            # entropy of the targets: the policy loss cannot go below it
            losses["target_entropy"] = float(-(pi * torch.log(pi.clamp(min=1e-12))).sum(-1).mean())

        key = ("train-step", id(self.net), tuple(x.shape))
        known = self.counter.known(key)
        if known is None:
            flops = self.counter.count(key, run)
        else:
            run()
            flops = known
        self.optimizer.step()
        self.steps += 1
        losses["flops"] = flops
        return losses
