"""Known-answer tests of the batched PUCT search (rules-only and oracle evaluators, no network)."""

from __future__ import annotations

from collections import Counter
from typing import Sequence

import chess
import numpy as np
import pytest

from bench.encoding import repetition_count
from bench.learners.mcts.search import (
    BatchedSearch,
    SearchConfig,
    SearchNode,
    UniformEvaluator,
    advance,
    completed_q_policy,
    history_counts,
    improved_action,
    visit_policy,
)

BACK_RANK = "6k1/5ppp/8/8/8/8/5PPP/R5K1 w - - 0 1"  # Ra8# is the only mate
MATE_IN_TWO = "8/8/8/8/K4p2/8/5R2/k7 w - - 0 1"  # Kb3! is the only move that mates next move (checked below)


def run(board: chess.Board, sims: int, evaluator=None, seed: int = 0, **cfg) -> SearchNode:
    root = SearchNode.root(board)
    search = BatchedSearch(evaluator or UniformEvaluator(), SearchConfig(**cfg), np.random.default_rng(seed))
    search.search([root], [history_counts(board)], [sims])
    return root


def best_move(root: SearchNode) -> str:
    return root.moves[root.best_action()].uci()


class RecordingEvaluator(UniformEvaluator):
    """Uniform priors and value 0 that remembers what it gave and refuses terminal positions."""

    def __init__(self) -> None:
        super().__init__()
        self.given: dict[int, np.ndarray] = {}

    def evaluate(self, nodes: Sequence[SearchNode]) -> tuple[list[np.ndarray], np.ndarray]:
        for node in nodes:
            assert node.terminal is None, f"terminal position sent to the evaluator: {node.board.fen()}"
        priors, values = super().evaluate(nodes)
        for node, p in zip(nodes, priors):
            self.given[id(node)] = p.copy()
        return priors, values


def test_finds_mate_in_one_with_uniform_priors() -> None:
    root = run(chess.Board(BACK_RANK), 200)
    assert best_move(root) == "a1a8"
    assert root.proven == 1.0


def test_finds_the_single_mate_in_two() -> None:
    board = chess.Board(MATE_IN_TWO)
    # the position's premise, by brute force: Kb3 is the only key move
    keys = []
    for move in board.legal_moves:
        board.push(move)
        replies = list(board.legal_moves)
        forced = bool(replies) and all(_mates_next(board, r) for r in replies)
        board.pop()
        keys += [move.uci()] if forced else []
    assert keys == ["a4b3"]
    root = run(board, 3000, c_puct=1.0)
    assert best_move(root) == "a4b3"
    assert root.proven == 1.0


def _mates_next(board: chess.Board, reply: chess.Move) -> bool:
    board.push(reply)
    found = False
    for move in board.legal_moves:
        board.push(move)
        found = found or board.is_checkmate()
        board.pop()
    board.pop()
    return found


class OracleEvaluator:
    """Knows the answer but gives most prior to a decoy: the winning move gets 0.2, the decoy 0.8."""

    def __init__(self, win: str, decoy: str) -> None:
        self.win, self.decoy = win, decoy

    def evaluate(self, nodes: Sequence[SearchNode]) -> tuple[list[np.ndarray], np.ndarray]:
        priors = []
        for node in nodes:
            p = np.zeros(len(node.moves))
            ucis = [m.uci() for m in node.moves]
            if self.win in ucis and self.decoy in ucis:
                p[ucis.index(self.win)], p[ucis.index(self.decoy)] = 0.2, 0.8
            else:
                p[:] = 1.0 / len(p)
            priors.append(p)
        return priors, np.zeros(len(nodes))


def test_prefers_the_proven_win_over_the_most_visited_move() -> None:
    root = run(chess.Board(BACK_RANK), 5, OracleEvaluator("a1a8", "g1f1"))
    ucis = [m.uci() for m in root.moves]
    win, decoy = ucis.index("a1a8"), ucis.index("g1f1")
    assert root.child_n[decoy] > root.child_n[win] >= 1  # the decoy is the most visited ...
    assert best_move(root) == "a1a8"  # ... but the mate is played


@pytest.mark.parametrize("leaves", [1, 4])
def test_visit_counts_sum_to_the_simulations(leaves: int) -> None:
    board = chess.Board()
    board.push_san("e4")
    root = run(board, 97, leaves_per_root=leaves)
    assert root.child_n.sum() == 97 and np.all(root.child_n == np.round(root.child_n))
    assert root.visits == 98  # the simulations and the root's own evaluation
    # every edge's value sum stays within [-n, n] once the virtual losses are undone
    assert np.all(np.abs(root.child_w) <= root.child_n + 1e-9)


@pytest.mark.parametrize(
    "fen, min_inner, min_terminals",
    [
        (chess.STARTING_FEN, 10, 0),
        ("7k/5Q2/6K1/8/8/8/8/8 w - - 0 1", 0, 2),  # mates and stalemates one move away
    ],
)
def test_dirichlet_noise_only_at_the_root_and_terminals_never_expanded(fen: str, min_inner: int, min_terminals: int) -> None:
    board = chess.Board(fen)
    evaluator = RecordingEvaluator()
    root = SearchNode.root(board)
    search = BatchedSearch(evaluator, SearchConfig(), np.random.default_rng(1))
    search.search([root], [history_counts(board)], [300], noise=[True])
    assert not np.allclose(root.priors, evaluator.given[id(root)])  # the root's priors carry noise
    assert root.priors.sum() == pytest.approx(1.0)
    inner = terminals = 0
    stack = [c for c in root.children if c is not None]
    while stack:
        node = stack.pop()
        if node.terminal is not None:
            terminals += 1
            assert not node.expanded and id(node) not in evaluator.given
            continue
        if node.expanded:
            inner += 1
            assert np.array_equal(node.priors, evaluator.given[id(node)])  # no noise below the root
        stack.extend(c for c in node.children if c is not None)
    assert inner >= min_inner and terminals >= min_terminals


def test_repetition_is_a_draw_and_the_tree_is_reused() -> None:
    board = chess.Board()
    for san in ["Nf3", "Nf6", "Ng1", "Ng8", "Nf3", "Nf6", "Ng1"]:
        board.push_san(san)
    # Ng8 would repeat the opening position a third time
    root = run(board, 60)
    ucis = [m.uci() for m in root.moves]
    child = root.children[ucis.index("f6g8")]
    assert child is not None and child.terminal == 0.0
    history: Counter = history_counts(board)
    best = root.best_action()
    visits = root.child_n[best]
    new_root = advance(root, best, history)
    assert new_root.visits == visits and history[new_root.key] >= 1


def test_temperature_samples_by_visits() -> None:
    root = run(chess.Board(), 64)
    rng = np.random.default_rng(0)
    picks = Counter(visit_policy(root, 1.0, rng) for _ in range(400))
    assert len(picks) > 3  # sampling explores
    assert visit_policy(root, 0.0, rng) == root.best_action()


def test_positions_at_the_ply_cap_are_terminal_with_the_adjudicated_value() -> None:
    """With `ply_cap`, a child at the cap is a terminal valued by `cap_value`: one ply before the cap, a
    rules-only search takes the hanging queen (material adjudication) and never expands a capped node."""
    board = chess.Board("4k3/8/8/3q4/8/8/3R4/4K3 w - - 0 40")  # ply 78: every move reaches the 79-ply cap

    def cap_value(b: chess.Board) -> float:  # the mover's material lead in queens, clipped to [-1, 1]
        from bench.learners.mcts.selfplay import material
        lead = material(b) if b.turn == chess.WHITE else -material(b)
        return float(np.clip(lead / 9, -1, 1))

    evaluator = RecordingEvaluator()
    root = run(board, 60, evaluator, ply_cap=79, cap_value=cap_value)
    assert best_move(root) == "d2d5"
    assert all(c is None or c.terminal is not None for c in root.children)
    assert evaluator.positions == 1  # only the root went to the evaluator


def test_completed_q_target_moves_mass_to_the_better_visited_move() -> None:
    """Gumbel MuZero's target by hand: visited moves keep Q, unvisited ones get v_mix; softmax(log p + sigma)."""
    root = run(chess.Board(), 1)  # an expanded root with 20 moves and uniform priors
    n = len(root.moves)
    priors = np.full(n, 1.0 / n)
    root.child_n[:] = 0
    root.child_w[:] = 0
    root.child_n[0], root.child_w[0] = 2, 1.0  # Q = 0.5
    root.child_n[1], root.child_w[1] = 1, -0.5  # Q = -0.5
    root.visits, root.value = 3, 0.3  # root.q() = 0.1
    target = completed_q_policy(root, priors, c_visit=50.0, c_scale=0.1)
    v_mix = (0.1 + 3 / (2 / n) * (0.5 / n - 0.5 / n)) / (1 + 3)
    sigma = lambda q: (50 + 2) * 0.1 * (q + 1) / 2  # noqa: E731
    logits = np.log(priors) + np.array([sigma(0.5), sigma(-0.5)] + [sigma(v_mix)] * (n - 2))
    expected = np.exp(logits - logits.max())
    assert np.allclose(target, expected / expected.sum())
    assert target[0] > priors[0] > target[2] > target[1]  # better than the prior, unvisited in between, worse below
    assert np.isclose(target.sum(), 1.0)


def test_completed_q_target_is_the_prior_before_any_visit() -> None:
    root = run(chess.Board(), 1)
    priors = np.linspace(1, 2, len(root.moves))
    priors /= priors.sum()
    root.child_n[:] = 0
    assert np.allclose(completed_q_policy(root, priors), priors)


class DecoyEvaluator:
    """Values from material for the side to move; priors 0.9 on one decoy move wherever it is legal."""

    def __init__(self, decoy: str, pawns_per_unit: float = 5.0) -> None:
        self.decoy = decoy
        self.pawns_per_unit = pawns_per_unit

    def evaluate(self, nodes: Sequence[SearchNode]) -> tuple[list[np.ndarray], np.ndarray]:
        from bench.learners.mcts.selfplay import material

        priors, values = [], []
        for node in nodes:
            ucis = [m.uci() for m in node.moves]
            p = np.full(len(ucis), 0.1 / max(len(ucis) - 1, 1))
            if self.decoy in ucis:
                p[ucis.index(self.decoy)] = 0.9
            else:
                p[:] = 1.0 / len(p)
            priors.append(p)
            lead = material(node.board) * (1 if node.board.turn == chess.WHITE else -1)
            values.append(np.tanh(lead / self.pawns_per_unit))
        return priors, np.array(values)


@pytest.mark.parametrize("scan", ["root", "tree"])
def test_scan_finds_a_mate_in_one_the_priors_hide(scan: str) -> None:
    """Two simulations with 90% of the prior on a quiet move: only a scan of the root's children sees Ra8#."""
    decoy = DecoyEvaluator("g1f1")
    assert best_move(run(chess.Board(BACK_RANK), 2, decoy)) == "g1f1"
    root = run(chess.Board(BACK_RANK), 2, decoy, scan=scan)
    assert best_move(root) == "a1a8" and root.proven == 1.0


def test_tree_scan_solves_the_mate_in_two_with_far_fewer_simulations() -> None:
    """Every node scanned: Kb3's replies are each proven lost as soon as they are reached, so the solver proves
    the key move within a few hundred simulations (3,000 without the scan do not always)."""
    board = chess.Board(MATE_IN_TWO)
    root = run(board, 300, c_puct=1.0, scan="tree")
    assert best_move(root) == "a4b3" and root.proven == 1.0
    assert run(board, 300, c_puct=1.0).proven is None


def test_scan_solves_a_node_whose_every_move_ends_the_game() -> None:
    """Black's only moves capture into a bare-kings draw: the scanned root is a proven draw."""
    board = chess.Board("8/8/8/8/8/8/6Qk/4K3 b - - 0 1")  # Kxg2 is forced and leaves K v K
    from bench.learners.mcts.search import scan

    root = SearchNode.root(board)
    scan(root, history_counts(board), [])
    assert [m.uci() for m in root.moves] == ["h2g2"] and root.proven == 0.0


def test_a_winning_side_does_not_walk_into_a_repetition() -> None:
    """White is a queen up; Qd2-d1 would make a position stand a third time (a draw by the game's history). The
    priors push that move (0.9), the values know material. With AlphaZero's first-play value (0 for an unvisited
    move) the draw looks as good as any unexplored move and takes every simulation; with Lc0's FPU reduction an
    unexplored move is worth about the parent's value, so the search finds that the other moves keep the queen."""
    board = chess.Board("4k3/8/8/8/8/8/8/3QK3 w - - 0 1")
    for uci in ["d1d2", "e8f8", "d2d1", "f8e8", "d1c2", "e8f8", "c2d1", "f8g8", "d1d2", "g8f8"]:
        board.push_uci(uci)
    assert repetition_count(board) == 1  # the root stands a second time
    board.push_uci("d2d1")
    assert board.is_repetition(3)  # (the premise: d2d1 now makes Qd1/Kf8, Black to move, stand a third time)
    board.pop()
    decoy = DecoyEvaluator("d2d1")
    assert best_move(run(board, 64, decoy)) == "d2d1"
    root = run(board, 64, decoy, fpu_reduction=0.3)
    child = root.children[[m.uci() for m in root.moves].index("d2d1")]
    assert child is not None and child.terminal == 0.0
    assert best_move(root) != "d2d1" and root.q() > 0.5


def test_contempt_keeps_an_unsure_winning_side_out_of_a_repetition() -> None:
    """The same repetition, but a value head that is unsure of its lead (a queen up reads +0.18): unexplored moves
    start at 0.18 - 0.25 < 0 under FPU reduction, so the draw (exactly 0) still takes the simulations. With a
    draw score of -0.3 for the searching side (contempt) the draw is worth less than any unexplored move, the
    search plays on, and the draw's backed-up value is -0.3 from the root's view."""
    board = chess.Board("4k3/8/8/8/8/8/8/3QK3 w - - 0 1")
    for uci in ["d1d2", "e8f8", "d2d1", "f8e8", "d1c2", "e8f8", "c2d1", "f8g8", "d1d2", "g8f8"]:
        board.push_uci(uci)
    unsure = DecoyEvaluator("d2d1", pawns_per_unit=50.0)
    assert best_move(run(board, 64, unsure, fpu_reduction=0.25)) == "d2d1"
    root = run(board, 64, unsure, fpu_reduction=0.25, contempt=0.3)
    draw = [m.uci() for m in root.moves].index("d2d1")
    assert best_move(root) != "d2d1"
    assert root.child_n[draw] >= 1 and root.child_w[draw] / root.child_n[draw] == pytest.approx(-0.3)


def test_root_width_tries_every_root_move_once_before_the_simulations() -> None:
    """A hanging queen and a prior that wants a king move: two PUCT simulations never look at Rxd5. With
    `root_width` every root move is evaluated once first (one batch), so every root move has a visit and a value
    (what the completed-Q target reads), and the move chosen from the completed-Q policy is the capture."""
    board = chess.Board("4k3/8/8/3q4/8/8/3R4/4K3 w - - 0 1")
    decoy = DecoyEvaluator("e1f1")
    assert best_move(run(board, 2, decoy)) != "d2d5"
    root = run(board, 2, decoy, root_width=True)
    assert best_move(root) != "d2d5"  # visit counts still follow the prior: the decoy took both simulations
    played = improved_action(root, root.priors, 0.0, np.random.default_rng(0), c_visit=50.0, c_scale=1.0)
    assert root.moves[played].uci() == "d2d5"  # the completed-Q choice reads the values
    assert all(n >= 1 for n in root.child_n)
    assert root.visits == len(root.moves) + 2 + 1  # one try per move, two simulations, the root's own evaluation


def test_check_candidates_hold_every_checking_move() -> None:
    """The tree scan looks for mates among `check_candidates` only: it must keep every move that gives check
    (direct, discovered, by castling, by en passant, by promotion), here over random play and hand-made cases."""
    from bench.learners.mcts.search import check_candidates

    cases = [
        "5k2/8/8/8/8/8/8/4K2R w K - 0 1",  # O-O checks with the rook
        "8/8/8/R2pP2k/8/8/8/4K3 w - d6 0 1",  # exd6 e.p. empties the fifth rank: Ra5 checks
        "7k/1P6/8/8/8/8/8/K7 w - - 0 1",  # b8=Q+ and b8=R+ along the back rank
        "k7/8/8/8/8/8/N7/R1K5 w - - 0 1",  # every knight move uncovers Ra1
    ]
    rng = np.random.default_rng(0)
    boards = [chess.Board(fen) for fen in cases]
    while len(boards) < 2000:
        board = chess.Board()
        for _ in range(int(rng.integers(1, 120))):
            moves = list(board.legal_moves)
            if not moves:
                break
            board.push(moves[int(rng.integers(len(moves)))])
        boards.append(board)
    kept = total = 0
    for board in boards:
        moves = list(board.legal_moves)
        candidates = set(check_candidates(board, moves))
        checking = {i for i, m in enumerate(moves) if board.gives_check(m)}
        assert checking <= candidates, (board.fen(), [moves[i].uci() for i in checking - candidates])
        kept, total = kept + len(candidates), total + len(moves)
    assert kept < 0.3 * total  # and it is a filter: most moves are left out
