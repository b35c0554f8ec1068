"""Tasks that teach conversion (issue 18): the `game` verifier on hand-played games, rollouts that end where the
evaluation's rules end a game, mate-in-N proofs on known positions, and the committed conversion task sets."""

from __future__ import annotations

import random

import chess
import numpy as np
import pytest

from bench.config import CONF_DIR
from bench.learners.rlvr.config import GeneratorConfig
from bench.learners.rlvr.make_tasks import conversion_positions
from bench.learners.rlvr.rollouts import _Rollout
from bench.learners.rlvr.sources import SearchBudget, forced_mate, mating_moves
from bench.learners.rlvr.tasks import Task, load_task_file
from bench.learners.rlvr.verifiers import EnginePool, Finished, Verifiers, game_result

DEFAULTS = {"verifier": "mate", "horizon": 1, "opponent": "random", "generator": "file"}
KQK = "7k/8/5K2/8/8/8/8/3Q4 w - - 0 1"  # White: Qd1, Kf6; Black: Kh8
MATE_IN_TWO = "k7/8/2K5/8/8/8/8/1R6 w - - 0 1"  # 1. Kc7 (not Ra1+? Kb8) and 2. Ra1#
MATE_IN_THREE = "rnbQ1bnr/pp1p1k2/6p1/7p/2p5/6P1/PPPP1P1P/RNBQKBNR w KQ - 0 1"  # from the committed set: 1. Qf3+


def played(fen: str, sans: list[str], horizon: int, **params: object) -> Finished:
    """A game played by hand from `fen` (the side to move is the learner), as a rollout hands it to the verifier."""
    start = chess.Board(fen)
    end = start.copy()
    for san in sans:
        end.push_san(san)
    task = Task(fen=start.fen(), verifier="game", horizon=horizon, opponent="random", generator="g")
    return Finished(task, GeneratorConfig(verifier="game", **params), start, end, start.turn, (len(sans) + 1) // 2)


def score(*items: Finished) -> list[float]:
    rewards, calls = Verifiers(EnginePool(1)).score(list(items))
    assert calls == 0  # the game verifier asks no engine
    return rewards


def test_game_verifier_on_hand_played_games() -> None:
    # KQ v K mated in 3 moves: 1. Qd7 Kg8 2. Kg6 Kf8 3. Qf7#; a win scores 1 - 0.2 * 3 / 10
    mate = played(KQK, ["Qd7", "Kg8", "Kg6", "Kf8", "Qf7#"], horizon=10)
    # the same start, stalemated: 1. Qd7 Kg8 2. Kg6 Kh8 3. Qf7 leaves Black no move and no check
    stalemate = played(KQK, ["Qd7", "Kg8", "Kg6", "Kh8", "Qf7"], horizon=10)
    # a won game shuffled into a threefold repetition: drawn at once, as the evaluation does
    shuffle = played(KQK, ["Qd2", "Kg8", "Qd1", "Kh8", "Qd2", "Kg8", "Qd1", "Kh8"], horizon=10)
    unfinished = played(KQK, ["Qd7", "Kg8"], horizon=1)  # the horizon is the rollout's ply cap: a draw
    rewards = score(mate, stalemate, shuffle, unfinished)
    assert rewards == pytest.approx([1 - 0.2 * 3 / 10, 0.0, 0.0, 0.0])
    assert score(played(KQK, ["Qd7", "Kg8"], horizon=1, draw_reward=0.5)) == [0.5]
    # a faster mate scores more; without a length penalty every mate scores 1
    assert score(played(KQK, ["Qd7", "Kg8", "Kg6", "Kf8", "Qf7#"], horizon=10, length_penalty=0.0)) == [1.0]


def test_game_verifier_loss_and_fifty_moves() -> None:
    # the learner (Black) walks into a back-rank mate: a loss scores 0
    lost = played("6k1/5ppp/8/8/8/8/5PPP/R5K1 b - - 0 1", ["Kf8", "Ra8#"], horizon=5)
    # fifty moves without a capture or pawn move: drawn at once, not at seventy-five
    fifty = played("7k/8/5K2/8/8/8/8/3Q4 w - - 99 80", ["Qd2"], horizon=5)
    assert game_result(fifty.end, chess.WHITE) == 0.5 and fifty.end.outcome(claim_draw=False) is None
    assert score(lost, fifty) == [0.0, 0.0]


def test_rollouts_end_at_the_third_occurrence_of_a_position() -> None:
    r = _Rollout(0, chess.Board(KQK), chess.WHITE)
    r.pushed()
    verdicts = []
    for san in ["Qd2", "Kg8", "Qd1", "Kh8", "Qd2", "Kg8", "Qd1", "Kh8"]:
        r.board.push_san(san)
        verdicts.append(r.over(r.pushed(), learner_to_move=r.board.turn == chess.WHITE))
    assert verdicts == [False] * 7 + [True]  # the start position, a third time
    assert game_result(r.board, chess.WHITE) == 0.5


def test_forced_mate_on_known_positions() -> None:
    back_rank = chess.Board("6k1/5ppp/8/8/8/8/5PPP/R5K1 w - - 0 1")
    assert forced_mate(back_rank, 1) == chess.Move.from_uci("a1a8")
    two = chess.Board(MATE_IN_TWO)
    assert forced_mate(two, 1) is None
    assert forced_mate(two, 2) == chess.Move.from_uci("c6c7")
    three = chess.Board(MATE_IN_THREE)
    assert forced_mate(three, 2) is None
    assert forced_mate(three, 3) is not None
    assert three.fen() == MATE_IN_THREE  # the search leaves the board as it found it
    # a stalemating move is no mate; a lone rook far from a mate: none in 2
    assert forced_mate(chess.Board("7k/5K2/8/6Q1/8/8/8/8 w - - 0 1"), 1) in {chess.Move.from_uci("g5g7"),
                                                                             chess.Move.from_uci("g5g8")}
    assert forced_mate(chess.Board("8/8/8/4k3/8/8/8/K6R w - - 0 1"), 2) is None
    with pytest.raises(SearchBudget):
        forced_mate(chess.Board("8/8/8/4k3/8/8/8/K6R w - - 0 1"), 3, max_nodes=50)


@pytest.mark.parametrize("name, horizon, sample", [("conversion_m1", 1, 0), ("conversion_m2", 2, 40),
                                                   ("conversion_m3", 3, 10)])
def test_committed_mate_in_n_sets_hold_by_the_rules(name: str, horizon: int, sample: int) -> None:
    """Every mate in one lists all its mates; a sample of the mates in 2 and 3 is proved again: mate in exactly N."""
    tasks = load_task_file(CONF_DIR / "tasks" / f"{name}.epd", DEFAULTS)
    assert len(tasks) >= 100 and len({t.fen for t in tasks}) == len(tasks)
    assert all(t.verifier == "mate" and t.horizon == horizon for t in tasks)
    if horizon == 1:
        for task in tasks:
            assert sorted(m.uci() for m in mating_moves(task.board())) == sorted(task.answers)
        return
    for task in random.Random(0).sample(tasks, sample):
        board = task.board()
        first = chess.Move.from_uci(task.answers[0])
        assert forced_mate(board, horizon, first=first) == first
        assert forced_mate(board, horizon - 1) is None


def test_committed_ahead_set_is_won_material() -> None:
    from bench.learners.rlvr.verifiers import material

    tasks = load_task_file(CONF_DIR / "tasks" / "conversion_ahead.epd", {**DEFAULTS, "verifier": "game", "horizon": 40})
    assert len(tasks) >= 100
    assert all(t.verifier == "game" and material(t.board(), t.board().turn) >= 5 for t in tasks)


def test_conversion_generator_without_an_engine() -> None:
    sets = conversion_positions({"m1": 6, "ahead": 3}, seed=1, log_every=0)
    assert len(sets["m1"]) == 6 and len(sets["ahead"]) == 3
    for board, ops in sets["m1"]:
        assert set(ops["bm"]) == set(mating_moves(board))
    assert np.all([ops["verifier"] == "game" for _, ops in sets["ahead"]])


def test_train_moves_caps_each_rollout_at_random() -> None:
    from tests.rlvr.test_learner import build

    learner = build()
    try:
        owner = np.repeat(np.arange(5), [1, 3, 10, 0, 40])
        keep = np.flatnonzero(owner != 1)  # rollout 1 carried no signal
        picked = learner._subsample(keep, owner, 4)
        assert set(picked) <= set(keep) and np.all(np.diff(picked) > 0)
        assert np.bincount(owner[picked], minlength=5).tolist() == [1, 0, 4, 0, 4]
        assert learner._subsample(keep, owner, 4).tolist() != picked.tolist()  # a fresh draw each time
        assert learner._subsample(keep, owner, 0).tolist() == keep.tolist()
    finally:
        learner.close()
