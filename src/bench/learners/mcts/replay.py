"""A bounded replay buffer of self-play samples in compact form (no float planes per position).

Per position: the mover-view bitboards of `bench.encoding.compact_board` (14 x uint64 = 112 bytes), the
visit-count policy as its `top_k` most visited moves (uint16 index + float16 probability each), the game's
outcome for the mover (int8) and the root's search value (float16). With top_k = 64 that is 371 bytes, so a
million positions take about 354 MiB. Planes and dense policy targets are rebuilt per sampled batch.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from bench.encoding import COMPACT_WORDS, NUM_MOVES, expand_compact


class ReplayBuffer:
    """A ring buffer: the oldest positions are overwritten once `capacity` is reached."""

    def __init__(self, capacity: int, top_k: int = 64) -> None:
        self.capacity, self.top_k = int(capacity), int(top_k)
        self.planes = np.zeros((self.capacity, COMPACT_WORDS), dtype=np.uint64)
        self.policy_index = np.zeros((self.capacity, self.top_k), dtype=np.uint16)
        self.policy_prob = np.zeros((self.capacity, self.top_k), dtype=np.float16)
        self.outcome = np.zeros(self.capacity, dtype=np.int8)
        self.root_q = np.zeros(self.capacity, dtype=np.float16)
        self.size = 0
        self.cursor = 0
        self.added = 0
        """Positions ever added (including overwritten ones)."""

    @property
    def nbytes(self) -> int:
        return sum(a.nbytes for a in (self.planes, self.policy_index, self.policy_prob, self.outcome, self.root_q))

    def bytes_per_position(self) -> float:
        return self.nbytes / self.capacity

    def add(self, planes: np.ndarray, policy_index: np.ndarray, policy_prob: np.ndarray, outcome: np.ndarray,
            root_q: np.ndarray) -> None:
        """Append a block of samples (arrays of equal length; policies already cut to `top_k` columns)."""
        n = len(planes)
        if n == 0:
            return
        self.added += n
        if n > self.capacity:
            planes, policy_index, policy_prob, outcome, root_q = (
                a[-self.capacity:] for a in (planes, policy_index, policy_prob, outcome, root_q)
            )
            n = self.capacity
        slots = (self.cursor + np.arange(n)) % self.capacity
        k = min(self.top_k, policy_index.shape[1])
        self.planes[slots] = planes
        self.policy_index[slots] = 0
        self.policy_prob[slots] = 0
        self.policy_index[slots, :k] = policy_index[:, :k]
        self.policy_prob[slots, :k] = policy_prob[:, :k]
        self.outcome[slots] = outcome
        self.root_q[slots] = root_q
        self.cursor = int((self.cursor + n) % self.capacity)
        self.size = min(self.capacity, self.size + n)

    def sample(self, batch: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """A uniform batch: planes [B, NUM_PLANES, 8, 8], dense policy [B, 4672], outcome [B], root value [B]."""
        rows = rng.integers(0, self.size, size=batch)
        planes = expand_compact(self.planes[rows])
        policy = np.zeros((batch, NUM_MOVES), dtype=np.float32)
        np.add.at(policy, (np.repeat(np.arange(batch), self.top_k), self.policy_index[rows].ravel().astype(np.int64)),
                  self.policy_prob[rows].ravel().astype(np.float32))
        policy /= np.maximum(policy.sum(1, keepdims=True), 1e-9)
        return planes, policy, self.outcome[rows].astype(np.float32), self.root_q[rows].astype(np.float32)

    def state_dict(self) -> dict[str, Any]:
        """Only the filled rows, in insertion order (oldest first)."""
        order = (self.cursor + np.arange(self.size)) % self.capacity if self.size == self.capacity else np.arange(self.size)
        return {
            "capacity": self.capacity, "top_k": self.top_k, "added": self.added,
            "planes": self.planes[order], "policy_index": self.policy_index[order],
            "policy_prob": self.policy_prob[order], "outcome": self.outcome[order], "root_q": self.root_q[order],
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.__init__(int(state["capacity"]), int(state["top_k"]))
        self.add(state["planes"], state["policy_index"], state["policy_prob"], state["outcome"], state["root_q"])
        self.added = int(state["added"])


def top_k_policy(indices: np.ndarray, visits: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The `k` most visited moves as (uint16 indices, float16 probabilities) padded with zeros to length k."""
    order = np.argsort(-visits, kind="stable")[:k]
    idx = np.zeros(k, dtype=np.uint16)
    prob = np.zeros(k, dtype=np.float16)
    total = visits[order].sum()
    idx[: len(order)] = indices[order]
    prob[: len(order)] = visits[order] / total if total > 0 else 1.0 / len(order)
    return idx, prob
