"""The evaluation player of the rlvr learner: a snapshot of the policy network, legal-masked, greedy or sampled."""

from __future__ import annotations

import random
import time

import chess
import numpy as np
import torch

from bench.encoding import compact_board, expand_compact, legal_moves_and_indices
from bench.players import MoveResult, PlayerBase


class PolicyPlayer(PlayerBase):
    """Plays the most probable legal move of a policy snapshot (temperature 0) or samples at `temperature`."""

    def __init__(self, net: torch.nn.Module, name: str, temperature: float, flops_per_position: float, seed: int = 0):
        self.net = net.eval()
        self.name = name
        self.temperature = float(temperature)
        self.flops_per_position = float(flops_per_position)
        self.rng = random.Random(seed)

    def new_game(self, seed: int) -> None:
        self.rng = random.Random(seed)

    @torch.no_grad()
    def play(self, board: chess.Board) -> MoveResult:
        start = time.perf_counter()
        moves, indices = legal_moves_and_indices(board)
        planes = torch.from_numpy(expand_compact(compact_board(board)[None]))
        logits = self.net(planes)[0][0].numpy()[indices].astype(np.float64)
        if self.temperature <= 0.0:
            choice = int(np.argmax(logits))
        else:
            z = logits / self.temperature
            p = np.exp(z - z.max())
            choice = self.rng.choices(range(len(moves)), weights=(p / p.sum()).tolist())[0]
        return MoveResult(
            move=moves[choice], flops=self.flops_per_position, seconds=time.perf_counter() - start, tokens_out=0
        )
