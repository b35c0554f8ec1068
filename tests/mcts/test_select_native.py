"""The C PUCT argmax `bench._movegen.puct_select` against numpy's (`puct_numpy`): the same index on random,
tied and nearly tied edges, and the same trees from a whole search either way."""

from __future__ import annotations

import array
import hashlib
from typing import Sequence

import chess
import numpy as np
import pytest

from bench.learners.mcts import search
from bench.learners.mcts.search import BatchedSearch, SearchConfig, SearchNode, history_counts, puct_numpy

puct_select = search.puct_select
FPUS = [0.0, -0.0, -0.2, 0.3, -1]


def test_extension_has_puct_select() -> None:
    assert puct_select is not None, "bench._movegen.puct_select did not import: run pip install -e ."


def random_edges(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray, float, float]:
    """One node's edges as a search leaves them: integer visits with many zeros (or fractional, as a virtual loss
    of 0.5 leaves them), values summing +-1 per visit, priors with ties; the node's visits and c_puct."""
    size = int(rng.integers(1, 60))
    n = rng.integers(0, 6, size).astype(np.float64) * (rng.random(size) < 0.4)
    if rng.random() < 0.2:
        n = n + 0.5 * rng.integers(0, 2, size)
    w = n * rng.uniform(-1, 1, size)
    if rng.random() < 0.3:
        w = np.round(w)  # exact ties in q
    kind = rng.integers(3)
    if kind == 0:
        priors = np.full(size, 1.0 / size)
    elif kind == 1:
        priors = rng.dirichlet(np.full(size, 0.3))
    else:
        priors = np.round(rng.dirichlet(np.ones(size)), 2)  # ties and zeros
    visits = float(n.sum()) if rng.random() < 0.5 else int(n.sum())
    c = float(rng.choice([1.0, 1.25, 1.5, 2.5]))
    return n, w, priors, c, visits


@pytest.mark.parametrize("fpu", FPUS)
def test_same_index_as_numpy_on_random_edges(fpu: float) -> None:
    assert puct_select is not None
    rng = np.random.default_rng(0)
    for _ in range(3000):
        n, w, p, c, visits = random_edges(rng)
        assert puct_select(n, w, p, c, visits, fpu) == puct_numpy(n, w, p, c, visits, fpu), (n, w, p, c, visits)


@pytest.mark.parametrize("fpu", FPUS)
def test_same_index_as_numpy_on_nearly_tied_edges(fpu: float) -> None:
    """Copies of one edge whose priors differ by an ulp or two: the index depends on every rounding, so a fused
    multiply-add (one rounding instead of two) or another operation order would show here."""
    assert puct_select is not None
    rng = np.random.default_rng(1)
    for _ in range(3000):
        size = int(rng.integers(2, 40))
        n = np.full(size, float(rng.integers(0, 8)))
        w = np.full(size, n[0] * rng.uniform(-1, 1))
        prior = rng.uniform(0.001, 0.5)
        p = prior + rng.integers(-2, 3, size) * np.spacing(prior)
        visits = int(rng.integers(0, 200))
        c = float(rng.uniform(0.5, 3.0))
        assert puct_select(n, w, p, c, visits, fpu) == puct_numpy(n, w, p, c, visits, fpu), (n, w, p, c, visits)


def test_ties_go_to_the_first_index_and_nan_stops_the_search() -> None:
    assert puct_select is not None
    zeros = np.zeros(5)
    uniform = np.full(5, 0.2)
    assert puct_select(zeros, zeros, uniform, 1.5, 0, 0.0) == 0
    p = np.array([0.1, 0.3, 0.2, 0.3, 0.1])
    assert puct_select(zeros, zeros, p, 1.5, 0, 0.0) == puct_numpy(zeros, zeros, p, 1.5, 0, 0.0) == 1
    p[2] = np.nan  # numpy's argmax returns the first NaN
    assert puct_select(zeros, zeros, p, 1.5, 0, 0.0) == puct_numpy(zeros, zeros, p, 1.5, 0, 0.0) == 2
    assert puct_select(zeros, zeros, uniform, 1.5, 0, float("nan")) == 0


def test_any_1d_float64_buffer_and_errors() -> None:
    assert puct_select is not None
    rng = np.random.default_rng(2)
    n, w, p, c, visits = random_edges(rng)
    wide = np.repeat(p, 3)[::3]  # a strided view
    assert puct_select(n, w, wide, c, visits, -0.2) == puct_numpy(n, w, p, c, visits, -0.2)
    as_arrays = [array.array("d", x.tolist()) for x in (n, w, p)]
    assert puct_select(*as_arrays, c, visits, 0.0) == puct_numpy(n, w, p, c, visits, 0.0)
    with pytest.raises(ValueError):
        puct_select(np.zeros(0), np.zeros(0), np.zeros(0), 1.5, 0, 0.0)
    with pytest.raises(TypeError):
        puct_select(n, w, p.astype(np.float32), c, visits, 0.0)
    with pytest.raises(TypeError):
        puct_select(n, w[:-1], p, c, visits, 0.0)
    with pytest.raises(TypeError):
        puct_select(n, w, p, c, visits)


class HashEvaluator:
    """Non-uniform priors (with ties) and values that depend only on the position's FEN."""

    def evaluate(self, nodes: Sequence[SearchNode]) -> tuple[list[np.ndarray], np.ndarray]:
        priors, values = [], []
        for node in nodes:
            rng = np.random.default_rng(int.from_bytes(hashlib.sha256(node.board.fen().encode()).digest()[:8]))
            logits = rng.normal(size=len(node.moves))
            logits[::5] = 0.25
            p = np.exp(logits - logits.max())
            priors.append(p / p.sum())
            values.append(rng.uniform(-0.9, 0.9))
        return priors, np.array(values)


def searched_trees(fpu: float, leaves: int) -> list[tuple[bytes, bytes]]:
    fens = [chess.STARTING_FEN, "r1bqkb1r/pppp1ppp/2n2n2/4p3/2B1P3/5N2/PPPP1PPP/RNBQK2R w KQkq - 4 4"]
    boards = [chess.Board(f) for f in fens]
    roots = [SearchNode.root(b) for b in boards]
    cfg = SearchConfig(fpu=fpu, leaves_per_root=leaves)
    BatchedSearch(HashEvaluator(), cfg, np.random.default_rng(0)).search(
        roots, [history_counts(b) for b in boards], [150, 150], noise=[True, True]
    )
    out, stack = [], list(roots)
    while stack:
        node = stack.pop()
        out.append((node.child_n.tobytes(), node.child_w.tobytes()))
        stack.extend(c for c in node.children if c is not None)
    return out


@pytest.mark.parametrize("fpu,leaves", [(0.0, 1), (-0.2, 4)])
def test_search_gives_the_same_trees_without_the_extension(
    fpu: float, leaves: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    native = searched_trees(fpu, leaves)
    monkeypatch.setattr(search, "puct_select", None)
    assert searched_trees(fpu, leaves) == native
