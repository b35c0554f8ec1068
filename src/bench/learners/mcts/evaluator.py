"""The network as a search `Evaluator`: one batched forward per search step, FLOPs measured per batch shape."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from bench.compute import FlopCounter
from bench.encoding import COMPACT_WORDS, compact_board, expand_compact
from bench.learners.mcts.search import SearchNode
from bench.network import PolicyValueNet, value_to_scalar


class NetworkEvaluator:
    """Priors (softmax of the policy logits over the legal moves) and values (expected score) from a net.

    `flops` accumulates the inference FLOPs of every forward: FlopCounterMode runs on the first batch of each
    size and that measurement is reused for later batches of the same size.
    """

    def __init__(self, net: PolicyValueNet, device: str = "cpu", counter: FlopCounter | None = None) -> None:
        self.net = net.eval()
        self.device = torch.device(device)
        self.counter = counter or FlopCounter()
        self.flops = 0.0
        self.positions = 0

    @torch.no_grad()
    def evaluate(self, nodes: Sequence[SearchNode]) -> tuple[list[np.ndarray], np.ndarray]:
        rows = np.empty((len(nodes), COMPACT_WORDS), dtype=np.uint64)
        for i, node in enumerate(nodes):
            rows[i] = compact_board(node.board, node.reps)
        x = torch.from_numpy(expand_compact(rows)).to(self.device)
        out: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}

        def run() -> None:
            out["y"] = self.net(x)

        key = ("search-forward", id(self.net), tuple(x.shape))
        known = self.counter.known(key)
        if known is None:
            self.flops += self.counter.count(key, run)
        else:
            run()
            self.flops += known
        self.positions += len(nodes)
        logits, value = out["y"]
        values = value_to_scalar(value, self.net.value_head).float().cpu().numpy()
        logits_np = logits.float().cpu().numpy()
        priors = []
        for i, node in enumerate(nodes):
            sel = logits_np[i, node.indices].astype(np.float64)
            sel = np.exp(sel - sel.max())
            priors.append(sel / sel.sum())
        return priors, values
