"""Batched PUCT search, shaped like OpenSpiel's `mcts.py`: a `SearchNode` with slots, an `Evaluator` protocol,
and a search that returns its roots so callers read visit counts.

Batched two ways, so the network sees one batch per step rather than one position per call: many roots
(self-play games) are searched in lockstep, and each root may send several leaves per step, kept apart by a
virtual loss. Selection is AlphaZero's PUCT (Silver et al. 2018, supplementary "Search"):
    a* = argmax_a Q(s, a) + c_puct * P(s, a) * sqrt(N(s)) / (1 + N(s, a)).
Terminal positions are found by the rules (mate, stalemate, threefold repetition, fifty moves, insufficient
material) and never expanded; proven results are propagated as in an MCTS-solver (Winands et al. 2008), so a
mate is chosen over a more visited move. With `SearchConfig.scan` a node's children are all generated when it is
first reached, so a mate in one (and a stalemate or repetition one move away) is known before any visit, whatever
the priors say: a few simulations cannot otherwise visit the one mating move among forty. Dirichlet noise goes on
the root's priors only.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from typing import Callable, Optional, Protocol, Sequence

import chess
import numpy as np

from bench.encoding import legal_moves_indices_check, repetition_count

try:  # the C argmax, bitwise the same as `puct_numpy`; without the extension (warned by bench.encoding), numpy's
    from bench._movegen import puct_select
except ImportError:
    puct_select = None


SCANS = ("none", "root", "tree")
"""Where a search looks for mates in one before any visit (`SearchConfig.scan`)."""


class SearchNode:
    """A position in the tree. Edge statistics live in the parent as arrays (one entry per legal move).

    `child_w` sums values from this node's mover's view; `terminal` is the value for the side to move when the
    game is over by the rules (-1 mated, 0 drawn), else None; `proven` is a solved value for the side to move.
    """

    __slots__ = (
        "board", "key", "reps", "moves", "indices", "priors", "child_n", "child_w",
        "children", "visits", "terminal", "proven", "value", "net_value",
    )

    def __init__(self, board: chess.Board, reps: int) -> None:
        node_init(self, board, board._transposition_key(), reps)

    @classmethod
    def root(cls, board: chess.Board) -> "SearchNode":
        """A root for `board` (its move stack is read for repetitions, then dropped)."""
        return cls(board.copy(stack=False), repetition_count(board))

    @property
    def expanded(self) -> bool:
        return self.priors is not None

    def child(self, a: int, counts: Counter, path_keys: list) -> "SearchNode":
        """The child after move `a`, created on first visit; `counts` + `path_keys` give its repetitions."""
        node = self.children[a]
        if node is None:
            board = self.board.copy(stack=False)
            board.push(self.moves[a])
            key = board._transposition_key()
            reps = counts.get(key, 0) + path_keys.count(key) if board.halfmove_clock else 0
            node = SearchNode.__new__(SearchNode)
            node_init(node, board, key, reps)
            self.children[a] = node
        return node

    def visit_counts(self) -> np.ndarray:
        return self.child_n.copy()

    def proven_win(self) -> int | None:
        """A move to a position proven lost for the opponent (a mate first), or None."""
        wins = [a for a, c in enumerate(self.children) if c is not None and c.proven == -1.0]
        if wins:
            mates = [a for a in wins if self.children[a].terminal == -1.0]
            return (mates or wins)[0]
        return None

    def best_action(self) -> int:
        """A proven win if there is one (a mate first), else the most visited move (ties broken by mean value)."""
        win = self.proven_win()
        if win is not None:
            return win
        q = np.where(self.child_n > 0, self.child_w / np.maximum(self.child_n, 1), -2.0)
        order = np.lexsort((q, self.child_n))
        return int(order[-1])

    def q(self) -> float:
        """Mean value of this node for its side to move, from the search."""
        return self.value / self.visits if self.visits else 0.0


def node_init(node: SearchNode, board: chess.Board, key: tuple, reps: int) -> None:
    """`SearchNode.__init__` with the transposition key already known (saves a second key computation)."""
    node.board = board
    node.key = key
    node.reps = reps
    node.moves, node.indices, check = legal_moves_indices_check(board)
    node.priors = None
    n = len(node.moves)
    node.child_n = np.zeros(n)
    node.child_w = np.zeros(n)
    node.children = [None] * n
    node.visits = 0
    node.value = 0.0
    node.net_value = 0.0
    if not n:
        node.terminal = -1.0 if check else 0.0
    elif reps >= 2 or board.halfmove_clock >= 100 or (
        # a pawn, rook or queen on the board is always sufficient material: skip python-chess's test
        not (board.pawns | board.rooks | board.queens) and board.is_insufficient_material()
    ):
        node.terminal = 0.0
    else:
        node.terminal = None
    node.proven = node.terminal


def puct_numpy(child_n: np.ndarray, child_w: np.ndarray, priors: np.ndarray, c_puct: float, visits: float,
               fpu: float) -> int:
    """The PUCT argmax over one node's edges; `bench._movegen.puct_select` computes the same, faster."""
    if fpu == 0.0:  # an unvisited edge has w = 0, so w / max(n, 1) is already the first-play value
        q = child_w / np.maximum(child_n, 1.0)
    else:
        q = np.where(child_n > 0, child_w / np.maximum(child_n, 1e-9), fpu)
    scores = q + priors * ((c_puct * math.sqrt(max(visits, 1))) / (1.0 + child_n))
    return int(scores.argmax())


class Evaluator(Protocol):
    """Gives priors over each node's legal moves (in `node.indices` order) and values for the side to move."""

    def evaluate(self, nodes: Sequence[SearchNode]) -> tuple[list[np.ndarray], np.ndarray]:
        ...


class UniformEvaluator:
    """Rules only: uniform priors and value 0 (terminal values come from the rules inside the search)."""

    def __init__(self) -> None:
        self.calls = 0
        self.positions = 0

    def evaluate(self, nodes: Sequence[SearchNode]) -> tuple[list[np.ndarray], np.ndarray]:
        self.calls += 1
        self.positions += len(nodes)
        return [np.full(len(n.moves), 1.0 / len(n.moves)) for n in nodes], np.zeros(len(nodes))


@dataclass
class SearchConfig:
    c_puct: float = 1.5
    dirichlet_alpha: float = 0.3
    dirichlet_eps: float = 0.25
    fpu: float = 0.0
    """Value assumed for unvisited moves, from the parent's view (AlphaZero: 0)."""
    fpu_reduction: Optional[float] = None
    """When set, unvisited moves are valued at the network's value of their parent minus this (first-play urgency
    by reduction, as Lc0 and KataGo do, but from the parent's own evaluation rather than its running mean, which
    the first visited moves dominate) instead of `fpu`: in a won position a draw (0) no longer looks as good as an
    unexplored move, so a few simulations do not all go to a repetition the prior happens to like."""
    leaves_per_root: int = 1
    """Leaves each root sends per step (> 1 uses virtual loss)."""
    virtual_loss: float = 1.0
    ply_cap: int = 0
    """Self-play's ply cap (0: none). A position at the cap is terminal, valued by `cap_value`, so the search
    plays the capped game it is trained on: its leaves near the cap carry the adjudicated result."""
    cap_value: Optional[Callable[[chess.Board], float]] = None
    """The adjudicated value of a capped position for its side to move (needed when `ply_cap` > 0)."""
    scan: str = "none"
    """Where mates in one are looked for when a node is first reached (`scan`): `none`, `root` (every child of the
    root generated, so stalemates and repetitions one move away are known too) or `tree` (the root so, and every
    other node's checking moves). A node with a mating move is then proven won without a network evaluation."""
    root_width: bool = False
    """Before its simulations, every move at the root is tried once: all the root's children go to the evaluator in
    one batch and each is backed up as one visit. With 16 simulations and 30-odd legal moves, PUCT otherwise never
    looks at a move its prior does not like (a capture of a hanging queen included), and the completed-Q policy
    target has a searched value for every move, not only the visited few (the point of Gumbel MuZero's root, here
    by brute force: the children cost one batched forward, not one simulation each). Forward passes per move become
    about simulations + legal moves; `simulations` still counts only the PUCT simulations."""
    contempt: float = 0.0
    """Draw score (Lc0's `DrawScore`): a draw by the rules (stalemate, repetition, fifty moves, insufficient
    material) reached in the tree is worth -contempt to the side to move at the root and +contempt to its opponent.
    0 is AlphaZero's. With a value head that is unsure how good a lead is, a repetition (exactly 0) otherwise beats
    every move whose estimate is a little below 0, and a side that is ahead shuffles into a draw."""


class SearchJob:
    """One root being searched: `left` simulations still to run; `noise` adds Dirichlet noise to its priors."""

    __slots__ = ("root", "history", "left", "noise", "clean_priors", "widened")

    def __init__(self, root: SearchNode, history: Counter, simulations: int, noise: bool = False) -> None:
        self.root, self.history, self.noise = root, history, noise
        self.widened = False
        """True once every root move has been tried (`SearchConfig.root_width`)."""
        self.left = int(simulations) if root.terminal is None else 0
        self.clean_priors: np.ndarray | None = None
        """The root's priors before Dirichlet noise (set when noise is added)."""

    def priors(self) -> np.ndarray:
        """The network's priors at the root, without the exploration noise."""
        return self.clean_priors if self.clean_priors is not None else self.root.priors

    @property
    def done(self) -> bool:
        return self.left <= 0 and (self.root.expanded or self.root.terminal is not None)


class BatchedSearch:
    """PUCT search over many roots at once; every step sends all pending leaves to the evaluator in one call."""

    def __init__(self, evaluator: Evaluator, config: SearchConfig, rng: np.random.Generator) -> None:
        self.evaluator = evaluator
        self.cfg = config
        self.rng = rng
        self.evaluated = 0
        """Positions sent to the evaluator so far."""
        self.batches = 0

    def search(
        self,
        roots: Sequence[SearchNode],
        histories: Sequence[Counter],
        simulations: Sequence[int],
        noise: Sequence[bool] | None = None,
    ) -> Sequence[SearchNode]:
        """Run `simulations[i]` new simulations from `roots[i]`; `histories[i]` counts the game's earlier
        positions (transposition keys, root included) for repetition draws. Returns the roots."""
        noise = noise if noise is not None else [False] * len(roots)
        jobs = [SearchJob(r, h, s, n) for r, h, s, n in zip(roots, histories, simulations, noise)]
        while any(not job.done for job in jobs):
            self.step(jobs)
        return roots

    def step(self, jobs: Sequence["SearchJob"]) -> None:
        """One batched step: every unfinished job sends its unexpanded root, or up to `leaves_per_root` leaves,
        and all of them go to the evaluator in a single call. Callers driving many games (self-play) replace
        finished jobs between steps, so the batch stays full."""
        pending: list[tuple[SearchNode, list[SearchNode], list[int]]] = []
        waiting: set[int] = set()
        fresh: list[SearchJob] = []
        widen: list[SearchJob] = []
        for job in jobs:
            if job.done:
                continue
            root = job.root
            if not root.expanded:
                if self.cfg.scan != "none":
                    scan(root, job.history, [])
                fresh.append(job)
                pending.append((root, [root], []))
                waiting.add(id(root))
                continue
            if job.noise:
                self._add_noise(job)
            if self.cfg.root_width and not job.widened:
                widen.append(job)
                continue
            for _ in range(min(job.left, self.cfg.leaves_per_root)):
                path, actions = self._select(root, job.history)
                leaf = path[-1]
                if leaf.proven is None and self.cfg.scan == "tree":
                    scan(leaf, job.history, [n.key for n in path[1:]], full=False)
                if leaf.proven is not None:
                    self._backup(path, actions, self._proven_value(root, leaf), virtual=False)
                    job.left -= 1
                elif id(leaf) in waiting:
                    break  # a collision: this root's other paths lead to the same leaf; try next step
                else:
                    self._apply_virtual(path, actions)
                    pending.append((leaf, path, actions))
                    waiting.add(id(leaf))
                    job.left -= 1
        if widen:
            self._widen(widen)
        if not pending:
            return
        values = self._expand([p[0] for p in pending])
        for (leaf, path, actions), value in zip(pending, values):
            if actions:
                self._backup(path, actions, float(value), virtual=True)
            else:  # a fresh root: its own evaluation counts in its mean value, as a leaf's does
                leaf.visits += 1
                leaf.value += float(value)
        for job in fresh:  # a root's own expansion is not a simulation; noise goes on its fresh priors
            if job.noise:
                self._add_noise(job)

    def _widen(self, jobs: list["SearchJob"]) -> None:
        """Try every root move not yet visited once (`SearchConfig.root_width`): solved children back up their
        value, the others go to the evaluator in one batch for all `jobs` and back up the network's value."""
        todo: list[tuple[SearchNode, SearchNode, int]] = []
        for job in jobs:
            job.widened = True
            root = job.root
            if root.proven is not None:
                continue
            for a in range(len(root.moves)):
                if root.child_n[a] > 0:
                    continue
                child = root.child(a, job.history, [])
                if child.proven is not None:
                    self._backup([root, child], [a], self._proven_value(root, child), virtual=False)
                elif child.priors is None:
                    todo.append((root, child, a))
        if not todo:
            return
        values = self._expand([child for _, child, _ in todo])
        for (root, child, a), value in zip(todo, values):
            self._backup([root, child], [a], float(value), virtual=False)

    def _proven_value(self, root: SearchNode, leaf: SearchNode) -> float:
        """A solved leaf's value for its side to move; a draw carries the contempt (see `SearchConfig.contempt`)."""
        value = float(leaf.proven)  # type: ignore[arg-type]
        if value == 0.0 and self.cfg.contempt:
            return -self.cfg.contempt if leaf.board.turn == root.board.turn else self.cfg.contempt
        return value

    def _add_noise(self, job: "SearchJob") -> None:
        """Dirichlet noise on the root's priors (AlphaZero: P = (1 - eps) P + eps Dir(alpha)), once per job."""
        job.noise = False
        root = job.root
        if root.terminal is None and len(root.moves) > 1:
            job.clean_priors = root.priors
            eps = self.cfg.dirichlet_eps
            root.priors = (1 - eps) * root.priors + eps * self.rng.dirichlet([self.cfg.dirichlet_alpha] * len(root.moves))

    def _expand(self, nodes: list[SearchNode]) -> np.ndarray:
        priors, values = self.evaluator.evaluate(nodes)
        self.evaluated += len(nodes)
        self.batches += 1
        values = np.asarray(values, dtype=np.float64)
        for node, p, v in zip(nodes, priors, values):
            node.priors = np.asarray(p, dtype=np.float64)
            node.net_value = float(v)
        return values

    def _select(self, root: SearchNode, counts: Counter) -> tuple[list[SearchNode], list[int]]:
        node, path, actions, keys = root, [root], [], []
        c = self.cfg.c_puct
        fpu = self.cfg.fpu
        reduction = self.cfg.fpu_reduction
        cap = self.cfg.ply_cap
        select = puct_select or puct_numpy
        while node.priors is not None and node.proven is None or node is root:  # expanded and unsolved
            if reduction is not None:
                fpu = node.net_value - reduction
            a = select(node.child_n, node.child_w, node.priors, c, node.visits, fpu)
            child = node.children[a]
            if child is None:
                child = node.child(a, counts, keys)
            if cap and child.terminal is None and child.priors is None and child.board.ply() >= cap:
                child.terminal = child.proven = float(self.cfg.cap_value(child.board))
            keys.append(child.key)
            path.append(child)
            actions.append(a)
            node = child
        return path, actions

    def _apply_virtual(self, path: list[SearchNode], actions: list[int]) -> None:
        vl = self.cfg.virtual_loss
        for node, a in zip(path, actions):
            node.child_n[a] += vl
            node.child_w[a] -= vl
            node.visits += vl

    def _backup(self, path: list[SearchNode], actions: list[int], value: float, virtual: bool) -> None:
        """Add `value` (for the leaf's side to move) along the path, undoing the virtual loss if applied."""
        vl = self.cfg.virtual_loss if virtual else 0.0
        leaf = path[-1]
        leaf.visits += 1
        leaf.value += value
        for depth in range(len(actions) - 1, -1, -1):
            node, a = path[depth], actions[depth]
            value = -value
            node.child_n[a] += 1 - vl
            node.child_w[a] += value + vl
            node.visits += 1 - vl
            node.value += value
            child = path[depth + 1]
            if child.proven is not None and node.proven is None:
                self._solve(node)

    @staticmethod
    def _solve(node: SearchNode) -> None:
        """MCTS-solver: a node is won if some move leads to a lost position for the opponent, and its value
        is known once every move's value is."""
        best, unknown = -2.0, False
        for child in node.children:
            if child is None or child.proven is None:
                unknown = True
            elif child.proven == -1.0:
                node.proven = 1.0
                return
            else:
                best = max(best, -child.proven)
        if not unknown:
            node.proven = best


def scan(node: SearchNode, counts: Counter, path_keys: list, full: bool = True) -> None:
    """Solve `node` (an unexpanded, unsolved position) from its children where one decides it: a mating move proves
    it won; with `full`, if every move ends the game by the rules, its value is the best of them. `full` generates
    every child; otherwise only the moves that may give check (`check_candidates`), the only ones that can mate, at
    a fifth of the cost. `counts` + `path_keys` give the children's repetitions, as in `SearchNode.child`."""
    if node.terminal is not None or node.proven is not None:
        return
    for a in range(len(node.moves)) if full else check_candidates(node.board, node.moves):
        if node.child(a, counts, path_keys).terminal == -1.0:
            node.proven = 1.0
            return
    if full and all(c.terminal is not None for c in node.children):
        node.proven = max(-c.terminal for c in node.children)


def check_candidates(board: chess.Board, moves: Sequence[chess.Move]) -> list[int]:
    """Indices of the `moves` that may give check: a superset, from bitboards without playing any move. A move can
    check directly (the moved or promoted piece attacks the king from its target square; sliders judged on an
    empty board), by discovery (it leaves a square between the king and one of the mover's sliders on a line), or
    be castling or en passant (kept whatever they do)."""
    them = not board.turn
    king = board.king(them)
    if king is None:
        return list(range(len(moves)))
    ours = board.occupied_co[board.turn]
    straight = chess.BB_RANK_ATTACKS[king][0] | chess.BB_FILE_ATTACKS[king][0]
    diagonal = chess.BB_DIAG_ATTACKS[king][0]
    reach = {
        chess.PAWN: chess.BB_PAWN_ATTACKS[them][king], chess.KNIGHT: chess.BB_KNIGHT_ATTACKS[king],
        chess.BISHOP: diagonal, chess.ROOK: straight, chess.QUEEN: straight | diagonal,
    }
    discover = 0
    for slider in chess.scan_forward(ours & (board.rooks | board.queens) & straight):
        discover |= chess.between(king, slider)
    for slider in chess.scan_forward(ours & (board.bishops | board.queens) & diagonal):
        discover |= chess.between(king, slider)
    passant = board.pawns if board.ep_square is not None else 0
    out = []
    for i, move in enumerate(moves):
        source = chess.BB_SQUARES[move.from_square]
        if source & (discover | passant):
            out.append(i)
            continue
        if source & board.kings:  # a king checks only by discovery, or castling by its rook
            if abs(chess.square_file(move.from_square) - chess.square_file(move.to_square)) > 1:
                out.append(i)
            continue
        piece = move.promotion or board.piece_type_at(move.from_square)
        if reach[piece] & chess.BB_SQUARES[move.to_square]:
            out.append(i)
    return out


def visit_policy(root: SearchNode, temperature: float, rng: np.random.Generator) -> int:
    """The move to play: sampled from visits^(1/T) when T > 0, else `best_action`."""
    if temperature <= 0 or root.child_n.sum() <= 0:
        return root.best_action()
    n = root.child_n ** (1.0 / temperature)
    return int(rng.choice(len(n), p=n / n.sum()))


def improved_action(root: SearchNode, priors: np.ndarray, temperature: float, rng: np.random.Generator,
                    c_visit: float = 50.0, c_scale: float = 1.0) -> int:
    """The move to play after a `root_width` search: a proven win if there is one, else sampled from (T > 0) or
    the argmax of the completed-Q policy. With every root move tried once and a handful of simulations, visit
    counts say what the prior liked; the completed-Q policy also reads what each move was found to be worth (the
    action choice of Gumbel MuZero's root, without its Gumbel noise)."""
    win = root.proven_win()
    if win is not None:
        return win
    p = completed_q_policy(root, priors, c_visit, c_scale)
    if temperature > 0:
        p = p ** (1.0 / temperature)
        return int(rng.choice(len(p), p=p / p.sum()))
    return int(np.argmax(p))


def choose_move(root: SearchNode, priors: np.ndarray | None, root_width: bool, temperature: float,
                rng: np.random.Generator, completed_q: tuple[float, float]) -> int:
    """The move a finished search plays: after a `root_width` search the completed-Q choice (`improved_action`,
    `completed_q` = (c_visit, c_scale)), else by visits (`visit_policy`); a proven win first either way."""
    if root_width and priors is not None:
        return improved_action(root, priors, temperature, rng, *completed_q)
    return visit_policy(root, temperature, rng)


def completed_q_policy(root: SearchNode, priors: np.ndarray, c_visit: float = 50.0, c_scale: float = 1.0) -> np.ndarray:
    """Gumbel MuZero's improved policy (Danihelka et al. 2022, eqs. 10-11): softmax(log prior + sigma(completed Q)).

    Visited moves keep their search value; unvisited ones get v_mix, the root value mixed with the prior-weighted
    value of the visited moves. sigma(q) = (c_visit + max N) * c_scale * q on values rescaled to [0, 1]. Unlike
    raw visit counts, this target moves the policy towards better moves even when a few simulations cannot visit
    every move, which is the regime of a small CPU budget (visit counts there mostly echo the prior).
    """
    n = root.child_n
    q = np.where(n > 0, root.child_w / np.maximum(n, 1e-9), 0.0)
    visited = n > 0
    mass = float(priors[visited].sum())
    v_mix = root.q()
    if mass > 0:
        total = float(n.sum())
        v_mix = (root.q() + total / mass * float((priors[visited] * q[visited]).sum())) / (1.0 + total)
    completed = np.where(visited, q, v_mix)
    logits = np.log(np.maximum(priors, 1e-12)) + (c_visit + float(n.max(initial=0.0))) * c_scale * (completed + 1) / 2
    logits -= logits.max()
    p = np.exp(logits)
    return p / p.sum()


def history_counts(board: chess.Board) -> Counter:
    """Transposition keys of `board`'s positions since the last irreversible move, the current one included."""
    counts: Counter = Counter([board._transposition_key()])
    undone = []
    try:
        for _ in range(min(board.halfmove_clock, len(board.move_stack))):
            undone.append(board.pop())
            counts[board._transposition_key()] += 1
    finally:
        for move in reversed(undone):
            board.push(move)
    return counts


def advance(root: SearchNode, action: int, history: Counter) -> SearchNode:
    """Tree reuse: the child after `action` becomes the new root (created if unvisited); `history` gains it."""
    child = root.child(action, history, [])
    history[child.key] += 1
    return child
