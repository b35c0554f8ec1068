"""A trained network plus search as a `Player`: what the harness evaluates and `bench.uci` serves."""

from __future__ import annotations

import time
from collections import Counter

import chess
import numpy as np

from bench.compute import FlopCounter
from bench.learners.mcts.evaluator import NetworkEvaluator
from bench.learners.mcts.search import BatchedSearch, SearchConfig, SearchNode, choose_move, history_counts
from bench.network import PolicyValueNet
from bench.players import MoveResult, PlayerBase


class MctsPlayer(PlayerBase):
    """Plays the most visited move after `simulations` PUCT simulations (no noise), reusing its tree between
    moves of one game when the position follows from its last search."""

    def __init__(
        self,
        net: PolicyValueNet,
        simulations: int,
        name: str = "mcts",
        c_puct: float = 1.5,
        fpu: float = 0.0,
        leaves_per_step: int = 8,
        device: str = "cpu",
        seed: int = 0,
        scan: str = "none",
        fpu_reduction: float | None = None,
        contempt: float = 0.0,
        root_width: bool = False,
        completed_q: tuple[float, float] = (50.0, 1.0),
    ) -> None:
        self.name = name
        self.simulations = int(simulations)
        self.evaluator = NetworkEvaluator(net, device, FlopCounter())
        self.cfg = SearchConfig(c_puct=c_puct, fpu=fpu, leaves_per_root=max(1, int(leaves_per_step)), scan=scan,
                                fpu_reduction=fpu_reduction, contempt=float(contempt),
                                root_width=bool(root_width))
        self.completed_q = completed_q
        """(c_visit, c_scale) of the completed-Q policy that picks the move after a `root_width` search."""
        self.rng = np.random.default_rng(seed)
        self.search = BatchedSearch(self.evaluator, self.cfg, self.rng)
        self.root: SearchNode | None = None
        self.root_fen: str | None = None

    def new_game(self, seed: int) -> None:
        self.rng = np.random.default_rng(seed)
        self.search.rng = self.rng
        self.root = None

    def _reuse(self, board: chess.Board) -> SearchNode | None:
        """The subtree for `board` if it is a child or grandchild of the previous root, else None."""
        if self.root is None:
            return None
        key = board._transposition_key()
        for child in self.root.children:
            if child is None:
                continue
            if child.key == key and child.board.halfmove_clock == board.halfmove_clock:
                return child
            for grandchild in child.children:
                if grandchild is not None and grandchild.key == key and grandchild.board.halfmove_clock == board.halfmove_clock:
                    return grandchild
        return None

    def play(self, board: chess.Board) -> MoveResult:
        start = time.perf_counter()
        flops_before = self.evaluator.flops
        root = self._reuse(board)
        history: Counter = history_counts(board)
        if root is None or min(2, root.reps) != min(2, history[root.key] - 1):
            root = SearchNode.root(board)
        self.search.search([root], [history], [self.simulations])
        if not root.moves:
            raise ValueError("no legal move: the game is over")
        action = choose_move(root, root.priors, self.cfg.root_width, 0.0, self.rng, self.completed_q)
        self.root = root
        visits = int(root.child_n[action])
        return MoveResult(
            move=root.moves[action],
            nodes=self.simulations,
            flops=self.evaluator.flops - flops_before,
            seconds=time.perf_counter() - start,
            comment=f"q={root.q():+.2f} n={visits}",
        )
