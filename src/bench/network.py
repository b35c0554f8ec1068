"""The policy-value network shared by the mcts and rlvr learners: a residual tower with two heads.

Shaped like AlphaZero's (Silver et al. 2018, supplementary "Neural network architecture"), scaled down:
a 3x3 convolutional stem, `blocks` residual blocks of two 3x3 convolutions with batch norm, a policy head
(3x3 conv + 1x1 conv to the 73 move planes, flattened to the 4,672-move index of `bench.encoding`) and a
value head (1x1 conv, a hidden layer, then either win/draw/loss logits or a tanh scalar). Values are from the
side to move's view, in [-1, 1] once read through `value_to_scalar`.

`value_pool=True` swaps AlphaZero's value head (2 feature planes flattened, 128 inputs tied to squares) for
a globally pooled one (1x1 conv to `channels` features, their mean over the 64 squares, then the hidden
layer), as in KataGo's heads (Wu 2019, sec. 4.1): material, a sum over squares, is then linear in the
pooled features, and the head cannot memorise where pieces stood in a game, which is what the flattened head
did with few, noisy self-play outcomes (it fit the games, not material).

`policy_head="attention"` swaps the convolutional policy head for a bilinear one over squares, as in Lc0's
attention policy: each square gets a query and a key (linear maps of its tower features next to its input
planes), and the logit of a move from square f to square t is q_f . k_t / sqrt(d); underpromotions add a
per-piece term read off the query. A move's logit then sees what stands on its target square however far
away, which a tiny convolutional head cannot: with 16 channels it cannot tell which of its 73 move planes
lands on an enemy piece, so it cannot learn that captures pay (it learned pawn pushes instead).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from bench.compute import FlopCounter
from bench.encoding import NUM_MOVES, NUM_PLANES, move_squares

VALUE_HEADS = ("wdl", "scalar")
POLICY_HEADS = ("conv", "attention")


class ResidualBlock(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu(self.bn1(self.conv1(x)))
        return F.relu(x + self.bn2(self.conv2(y)))


class AttentionPolicy(nn.Module):
    """Move logits q_from . k_to / sqrt(d) from per-square queries and keys, gathered into the 4,672-move index.

    Indices that leave the board get the (from, from) logit; legal-move masking never lets them through.
    """

    def __init__(self, channels: int, dim: int) -> None:
        super().__init__()
        width = channels + NUM_PLANES
        self.query = nn.Linear(width, dim)
        self.key = nn.Linear(width, dim)
        self.underpromotion = nn.Linear(dim, 3)
        self.scale = 1.0 / float(np.sqrt(dim))
        frm, to, piece = move_squares()
        self.register_buffer("pair_index", torch.from_numpy(frm * 64 + to).long(), persistent=False)
        self.register_buffer("under_from", torch.from_numpy(frm).long(), persistent=False)
        self.register_buffer("under_piece", torch.from_numpy(piece).long(), persistent=False)

    def forward(self, features: torch.Tensor, planes: torch.Tensor) -> torch.Tensor:
        x = torch.cat([features, planes], dim=1).flatten(2).transpose(1, 2)  # [N, 64 squares, width]
        q, k = self.query(x), self.key(x)
        pair = torch.bmm(q, k.transpose(1, 2)).mul(self.scale).flatten(1)  # [N, 64 * 64]: from * 64 + to
        logits = pair[:, self.pair_index]
        under = F.pad(self.underpromotion(q), (1, 0))  # [N, 64, 4]: column 0 = not an underpromotion
        return logits + under[:, self.under_from, self.under_piece]


class PolicyValueNet(nn.Module):
    """Residual tower; `forward(planes[N, NUM_PLANES, 8, 8]) -> (policy_logits[N, 4672], value)`.

    `value` is [N, 3] win/draw/loss logits for `value_head="wdl"`, or [N] in [-1, 1] for `"scalar"`.
    """

    def __init__(self, blocks: int = 2, channels: int = 32, value_head: str = "wdl", value_hidden: int = 64,
                 value_pool: bool = False, policy_head: str = "conv", policy_dim: int = 16) -> None:
        super().__init__()
        if value_head not in VALUE_HEADS:
            raise ValueError(f"value_head must be one of {VALUE_HEADS}, not {value_head!r}")
        if policy_head not in POLICY_HEADS:
            raise ValueError(f"policy_head must be one of {POLICY_HEADS}, not {policy_head!r}")
        self.blocks, self.channels, self.value_head = int(blocks), int(channels), value_head
        self.value_pool = bool(value_pool)
        self.policy_head, self.policy_dim = policy_head, int(policy_dim)
        self.stem = nn.Sequential(
            nn.Conv2d(NUM_PLANES, channels, 3, padding=1, bias=False), nn.BatchNorm2d(channels), nn.ReLU()
        )
        self.tower = nn.Sequential(*[ResidualBlock(channels) for _ in range(blocks)])
        if policy_head == "attention":
            self.policy: nn.Module = AttentionPolicy(channels, self.policy_dim)
        else:
            self.policy = nn.Sequential(
                nn.Conv2d(channels, channels, 3, padding=1, bias=False),
                nn.BatchNorm2d(channels),
                nn.ReLU(),
                nn.Conv2d(channels, 73, 1),
            )
        value_planes = channels if self.value_pool else 2
        self.value_conv = nn.Sequential(
            nn.Conv2d(channels, value_planes, 1, bias=False), nn.BatchNorm2d(value_planes), nn.ReLU()
        )
        self.value_fc = nn.Sequential(
            nn.Linear(value_planes + NUM_PLANES if self.value_pool else 2 * 64, value_hidden),
            nn.ReLU(),
            nn.Linear(value_hidden, 3 if value_head == "wdl" else 1),
        )

    def forward(self, planes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.tower(self.stem(planes))
        if self.policy_head == "attention":
            logits = self.policy(x, planes)
        else:
            logits = self.policy(x).flatten(1)  # [N, 73*64]: index = plane * 64 + square, as in bench.encoding
        v = self.value_conv(x)
        if self.value_pool:  # pooled tower features next to the input planes' means (piece counts / 64)
            value = self.value_fc(torch.cat([v.mean(dim=(2, 3)), planes.mean(dim=(2, 3))], dim=1))
        else:
            value = self.value_fc(v.flatten(1))
        if self.value_head == "scalar":
            value = torch.tanh(value.squeeze(1))
        return logits, value

    def config(self) -> dict[str, Any]:
        """The constructor arguments, to rebuild the same architecture from a checkpoint."""
        config: dict[str, Any] = {"blocks": self.blocks, "channels": self.channels, "value_head": self.value_head,
                                  "value_pool": self.value_pool}
        if self.policy_head != "conv":  # older checkpoints (conv head) rebuild without these keys
            config.update(policy_head=self.policy_head, policy_dim=self.policy_dim)
        return config


def value_to_scalar(value: torch.Tensor, value_head: str) -> torch.Tensor:
    """Expected score in [-1, 1] for the side to move: P(win) - P(loss) for wdl, the value itself for scalar."""
    if value_head == "wdl":
        probs = torch.softmax(value, dim=-1)
        return probs[..., 0] - probs[..., 2]
    return value


def masked_log_softmax(logits: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """log-softmax over the legal moves only (mask True = legal); illegal entries get -inf."""
    return torch.log_softmax(logits.masked_fill(~mask, float("-inf")), dim=-1)


def masked_softmax(logits: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Softmax over the legal moves only; illegal moves get probability 0."""
    return torch.softmax(logits.masked_fill(~mask, float("-inf")), dim=-1)


def legal_priors(logits: np.ndarray, indices: np.ndarray) -> np.ndarray:
    """Softmax of one position's logits restricted to its legal move `indices` (numpy, float32)."""
    sel = logits[indices].astype(np.float64)
    sel = np.exp(sel - sel.max())
    return (sel / sel.sum()).astype(np.float32)


def forward_flops_per_position(net: PolicyValueNet, counter: FlopCounter | None = None, batch: int = 64) -> float:
    """Measured forward FLOPs per position (FlopCounterMode on a real batch of `batch` positions)."""
    counter = counter or FlopCounter()
    example = torch.zeros(batch, NUM_PLANES, 8, 8, device=next(net.parameters()).device)
    was_training = net.training
    net.eval()

    def run() -> None:
        with torch.no_grad():
            net(example)

    flops = counter.count(("forward", id(net), batch), run)
    net.train(was_training)
    return flops / batch


def parameter_count(net: nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())


__all__ = [
    "NUM_MOVES",
    "POLICY_HEADS",
    "PolicyValueNet",
    "VALUE_HEADS",
    "forward_flops_per_position",
    "legal_priors",
    "masked_log_softmax",
    "masked_softmax",
    "parameter_count",
    "value_to_scalar",
]
