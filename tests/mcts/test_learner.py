"""The mcts learner through the Learner protocol: compute accounting, checkpoints, players, worker pools."""

from __future__ import annotations

import io
from dataclasses import fields
from types import SimpleNamespace

import chess
import numpy as np
import pytest
import torch

from bench.compute import ComputeMeter
from bench.learners import LearnerContext
from bench.learners.mcts import MctsLearner, player_from_state
from bench.learners.mcts.config import MctsConfig
from bench.learners.mcts.replay import ReplayBuffer, top_k_policy
from bench.players import Player

MCTS_DEFAULTS = {f.name: getattr(MctsConfig(), f.name) for f in fields(MctsConfig)}
TINY = dict(
    blocks=1, channels=8, simulations=6, fast_simulations=2, full_search_prob=0.5, eval_simulations=8,
    eval_leaves_per_step=4, games_per_worker=4, moves_per_improve=3, max_plies=12, min_replay=8,
    batch_size=16, sample_reuse=2.0, replay_capacity=500,
)


def make(kind: str = "local", in_process: bool = True, workers: int = 1, seed: int = 0, **over) -> MctsLearner:
    torch.set_num_threads(1)
    ctx = LearnerContext(
        meter=ComputeMeter(), seed=seed, runtime=SimpleNamespace(kind=kind, device="cpu", workers=workers),
        stockfish=None,
    )
    return MctsLearner({**TINY, "in_process": in_process, **over}, ctx)


def test_improve_reports_compute_and_trains() -> None:
    learner = make()
    for _ in range(4):
        learner.improve()
    meter = learner.context.meter
    assert meter.infer_flops > 0 and meter.train_flops > 0
    # each improve plays at least moves_per_improve x games moves (a step may finish a few searches at once)
    assert 4 * 3 * 4 <= meter.samples["positions"] < 4 * (3 * 4 + 4)
    assert meter.samples["games"] >= 4  # 12-ply games finish within 18 plies each
    # simulations: 6 (full) or 2 (fast) per move
    assert 2 * meter.samples["positions"] <= meter.samples["simulations"] <= 6 * meter.samples["positions"]
    info = learner.eval_info()
    assert info["eval_simulations"] == 8 and info["generation"] >= 1 and info["train_steps"] >= 1
    assert info["selfplay"]["adjudicated"] + info["selfplay"]["mates"] + info["selfplay"]["draws_by_rule"] \
        + info["selfplay"].get("resigned", 0) >= info["selfplay"]["games"] > 0
    assert set(info["losses"]) >= {"policy", "value"}
    learner.close()


@pytest.mark.parametrize("policy_head", ["conv", "attention"])
def test_checkpoint_round_trip_and_player(policy_head: str) -> None:
    learner = make(policy_head=policy_head)
    for _ in range(4):
        learner.improve()
    buffer = io.BytesIO()
    torch.save(learner.state_dict(), buffer)
    buffer.seek(0)
    state = torch.load(buffer, weights_only=False)
    other = make(seed=1, policy_head=policy_head)
    other.load_state_dict(state)
    for a, b in zip(learner.net.state_dict().values(), other.net.state_dict().values()):
        assert torch.equal(a, b)
    assert other.replay.size == learner.replay.size and other.generation == learner.generation
    assert np.array_equal(other.replay.state_dict()["planes"], learner.replay.state_dict()["planes"])
    # both continue identically: same replay, same RNG, same optimizer
    learner.improve(), other.improve()
    with learner.make_player() as player:
        assert isinstance(player, Player)
        board = chess.Board()
        result = player.play(board)
        assert result.move in board.legal_moves and result.nodes == 8 and result.flops > 0
    with player_from_state(state, simulations=3) as loaded:
        assert loaded.play(chess.Board()).move in chess.Board().legal_moves
    learner.close(), other.close()


def test_replay_is_compact_and_bounded() -> None:
    buffer = ReplayBuffer(capacity=1000, top_k=64)
    assert buffer.bytes_per_position() < 400  # 1,000,000 positions < 1 GiB
    rng = np.random.default_rng(0)
    idx, prob = top_k_policy(np.arange(100), rng.integers(0, 5, 100).astype(float), 64)
    rows = np.zeros((1500, 14), np.uint64)
    buffer.add(rows, np.tile(idx, (1500, 1)), np.tile(prob, (1500, 1)), np.ones(1500, np.int8), np.zeros(1500, np.float16))
    assert buffer.size == 1000 and buffer.added == 1500
    planes, policy, outcome, _ = buffer.sample(8, rng)
    assert planes.shape == (8, 21, 8, 8) and policy.shape == (8, 4672)
    assert np.allclose(policy.sum(1), 1.0, atol=1e-3) and (outcome == 1).all()


def test_local_processes_give_the_same_samples_as_in_process() -> None:
    """The same worker code with the same seeds: a spawned worker process reproduces in-process self-play."""
    inline = make(in_process=True, max_plies=6)
    local = make(in_process=False, max_plies=6)
    try:
        for _ in range(3):
            inline.improve(), local.improve()
        a, b = inline.replay.state_dict(), local.replay.state_dict()
        assert a["planes"].shape[0] > 0
        assert np.array_equal(a["planes"], b["planes"]) and np.array_equal(a["outcome"], b["outcome"])
        assert inline.context.meter.samples == local.context.meter.samples
    finally:
        inline.close(), local.close()


def test_ray_actors_give_the_same_samples_as_in_process() -> None:
    """runtime=ray on a local cluster started here: the same worker as an actor, the same samples."""
    pytest.importorskip("ray")
    inline = make(in_process=True, max_plies=6)
    remote = make(kind="ray", in_process=False, max_plies=6)
    try:
        for _ in range(2):
            inline.improve(), remote.improve()
        a, b = inline.replay.state_dict(), remote.replay.state_dict()
        assert a["planes"].shape[0] > 0 and np.array_equal(a["planes"], b["planes"])
        assert inline.context.meter.samples == remote.context.meter.samples
    finally:
        inline.close(), remote.close()


def test_self_play_can_start_from_random_positions() -> None:
    """`start_random_plies`: varied, reproducible start positions, renumbered so the ply cap counts this game's plies."""
    from bench.learners.mcts.selfplay import SelfPlay
    from bench.learners.mcts.search import UniformEvaluator

    cfg = SimpleNamespace(**{**MCTS_DEFAULTS, **TINY, "start_random_plies": 30, "games_per_worker": 16})
    a = SelfPlay(UniformEvaluator(), cfg, np.random.default_rng(1))
    b = SelfPlay(UniformEvaluator(), cfg, np.random.default_rng(1))
    fens = [g.board.fen() for g in a.games]
    assert fens == [g.board.fen() for g in b.games]
    assert len(set(fens)) > 8  # varied (0 random plies, the initial position, is one of 31 choices)
    assert all(g.board.ply() <= 1 and not g.board.move_stack for g in a.games)
    out = a.play(cfg.max_plies + 2)
    assert out["stats"]["games"] >= 1 and out["stats"]["plies"] <= out["stats"]["games"] * (cfg.max_plies + 1)


def test_policy_target_is_checked() -> None:
    from bench.errors import BenchError

    with pytest.raises(BenchError, match="policy_target"):
        make(policy_target="visit")
    with pytest.raises(BenchError, match="policy_head"):
        make(policy_head="transformer")


class RecordingPool:
    """Wraps a worker pool and logs each call with the trainer's step count at that moment."""

    def __init__(self, pool: object, learner: MctsLearner) -> None:
        self.pool, self.learner, self.log = pool, learner, []

    def __getattr__(self, name: str) -> object:
        return getattr(self.pool, name)

    def set_weights(self, weights: dict, generation: int) -> None:
        self.log.append(("weights", generation, self.learner.trainer.steps))
        self.pool.set_weights(weights, generation)

    def submit(self, plies: int) -> None:
        self.log.append(("submit", self.learner.published, self.learner.trainer.steps))
        self.pool.submit(plies)

    def collect(self) -> list:
        results = self.pool.collect()
        positions = sum(r["stats"].get("positions", 0) for r in results)
        self.log.append(("collect", positions, self.learner.trainer.steps))
        return results


@pytest.mark.parametrize("pipeline", [True, False])
def test_pipelined_self_play_trains_and_closes(pipeline: bool) -> None:
    """With `pipeline` the workers play the next plies while the trainer learns: every improve() after the first
    collects plies submitted by the one before, with weights one improve() older, and training steps happen
    between a submit and its collect; without it, each improve() submits, collects, then trains. Either way every
    collected position is counted once (meter, replay), and closing discards the plies still in flight."""
    learner = make(in_process=False, pipeline=pipeline, policy_target="completed_q", max_plies=6,
                   policy_head="attention")  # worker processes build the same head
    try:
        learner.pool = RecordingPool(learner._start_pool(), learner)
        log = learner.pool.log
        generations = []
        for _ in range(6):
            learner.improve()
            generations.append(learner.generation)
        assert learner.in_flight == pipeline
        assert learner.trainer.steps >= 1 and generations[-1] >= 2
        calls = [kind for kind, _, _ in log if kind != "weights"]
        assert calls == (["submit"] + ["collect", "submit"] * 6 if pipeline else ["submit", "collect"] * 6)
        submits = [(published, steps) for kind, published, steps in log if kind == "submit"]
        collects = [(positions, steps) for kind, positions, steps in log if kind == "collect"]
        # the plies collected by improve() k were played with the weights published when they were submitted:
        # generation after improve() k-2 when pipelined (one improve() stale), after k-1 otherwise
        played_with = [published for published, _ in submits[:6]]
        assert played_with == ([0] + [0] + generations[:4] if pipeline else [0] + generations[:5])
        trained_in_flight = sum(c_steps - s_steps for (_, s_steps), (_, c_steps) in zip(submits, collects))
        assert (trained_in_flight > 0) == pipeline and trained_in_flight <= learner.trainer.steps
        positions = sum(p for p, _ in collects)
        assert positions >= 6 * 3 * 4  # moves_per_improve x games_per_worker per collect
        meter = learner.context.meter
        assert meter.samples["positions"] == positions == learner.totals["positions"]
        assert learner.replay.added == learner.totals["positions_recorded"] > 0
    finally:
        learner.close()
    assert learner.pool is None and not learner.in_flight
    assert learner.context.meter.samples["positions"] == positions  # the drained plies are not counted


def test_self_play_can_start_from_random_endgames() -> None:
    """`start_endgame_prob`: legal, unfinished, varied and reproducible endgames with at most `endgame_max_pieces`
    pieces a side besides the king, no pawn on a back rank; games from them end by the rules, often in mate."""
    from bench.learners.mcts.search import UniformEvaluator
    from bench.learners.mcts.selfplay import SelfPlay, random_endgame

    rng = np.random.default_rng(0)
    boards = [random_endgame(rng, 3) for _ in range(300)]
    assert all(b.is_valid() and not b.is_game_over() for b in boards)
    for b in boards:
        for color in (chess.WHITE, chess.BLACK):
            assert len(b.pieces(chess.KING, color)) == 1 and chess.popcount(b.occupied_co[color]) <= 4
        assert not b.pawns & (chess.BB_RANK_1 | chess.BB_RANK_8)
    assert len({b.fen() for b in boards}) == 300 and {b.turn for b in boards} == {chess.WHITE, chess.BLACK}
    assert [b.fen() for b in boards[:5]] == [random_endgame(r, 3).fen() for r in [np.random.default_rng(0)] * 5]

    cfg = SimpleNamespace(**{**MCTS_DEFAULTS, **TINY, "start_endgame_prob": 1.0, "games_per_worker": 8,
                             "max_plies": 30, "scan": "tree", "adjudication": "draw"})
    out = SelfPlay(UniformEvaluator(), cfg, np.random.default_rng(1)).play(40)
    stats = out["stats"]
    assert stats["games"] >= 8 and stats["mates"] >= 1, stats  # every game ends by ply 30 (searches may overlap)
    assert set(np.unique(out["samples"]["outcome"])) <= {-1, 0, 1} and np.any(out["samples"]["outcome"] != 0)
