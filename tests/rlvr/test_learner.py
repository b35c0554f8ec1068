"""The rlvr learner against the Learner protocol: accounting, players, records, checkpoints, bad configs."""

from __future__ import annotations

import io
from typing import Any

import chess
import numpy as np
import pytest
import torch
from omegaconf import OmegaConf

from bench.compute import ComputeMeter
from bench.config import RuntimeConfig, RungConfig, StockfishConfig
from bench.errors import BenchError
from bench.learners import LearnerContext
from bench.learners.rlvr import RlvrLearner
from bench.learners.rlvr.config import GeneratorConfig, GrpoConfig, PolicyConfig, PoolConfig, RlvrConfig
from bench.players import Player

RULES_ONLY = [
    GeneratorConfig(name="mates", source="mate_in_one", verifier="mate", horizon=1),
    GeneratorConfig(name="grabs", source="random_play", verifier="material", horizon=2, confirm_nodes=0),
]


def build(generators: list[GeneratorConfig] = RULES_ONLY, rungs: list[Any] | None = None, seed: int = 0,
          **grpo: Any) -> RlvrLearner:
    cfg = OmegaConf.structured(RlvrConfig(
        policy=PolicyConfig(blocks=1, channels=8),
        grpo=GrpoConfig(**{"tasks_per_step": 4, "group_size": 4, **grpo}),
        pool=PoolConfig(size=8, fresh_per_step=2),
        generators=generators,
    ))
    rungs = rungs if rungs is not None else [OmegaConf.structured(RungConfig(name="random", kind="random"))]
    context = LearnerContext(meter=ComputeMeter(), seed=seed, runtime=OmegaConf.structured(RuntimeConfig(workers=1)),
                             stockfish=OmegaConf.structured(StockfishConfig()), rungs=rungs)
    return RlvrLearner(cfg, context)


def test_improve_reports_compute_and_samples() -> None:
    learner = build()
    try:
        learner.improve()
        meter = learner.context.meter
        assert meter.samples["rollouts"] == 16 and meter.samples["tasks"] == 4
        assert meter.samples["tokens"] >= 16 and meter.samples["positions"] >= meter.samples["tokens"]
        assert meter.infer_flops > 0 and meter.verifier_calls == 0
        # training FLOPs are measured only on informative groups; a second step reuses cached shapes
        learner.improve()
        info = learner.eval_info()
        assert info["steps"] == 2 and info["pool"]["capacity"] == 8
        assert info["per_task"]["rollouts"] == 4 and info["per_task"]["seed_llm_tokens"] == 320_000
        assert set(info["reward_by_generator"]) <= {"mates", "grabs"}
    finally:
        learner.close()


def test_player_is_a_legal_snapshot() -> None:
    learner = build()
    try:
        player = learner.make_player()
        assert isinstance(player, Player)
        board = chess.Board()
        for _ in range(30):
            result = player.play(board)
            assert result.move in board.legal_moves and result.flops > 0
            board.push(result.move)
            if board.is_game_over():
                break
        before = {k: v.clone() for k, v in player.net.state_dict().items()}
        learner.improve()
        assert all(torch.equal(before[k], v) for k, v in player.net.state_dict().items())  # a snapshot
    finally:
        learner.close()


def test_state_dict_round_trip_continues_identically() -> None:
    a = build(seed=3)
    b = build(seed=99)
    try:
        a.improve()
        a.replaced["workers"] = 2  # as if two Ray actors had been replaced: the count carries across a resume
        buffer = io.BytesIO()
        torch.save(a.state_dict(), buffer)
        buffer.seek(0)
        b.load_state_dict(torch.load(buffer, weights_only=False))
        a.improve()
        b.improve()
        for (k, va), vb in zip(a.net.state_dict().items(), b.net.state_dict().values()):
            assert torch.allclose(va, vb), k
        assert a.pool.stats() == b.pool.stats()
        assert a.eval_info()["per_task"] == b.eval_info()["per_task"]
        assert b.eval_info()["workers_replaced"] == 2 and b.eval_info()["verifier_engines_replaced"] == 0
    finally:
        a.close()
        b.close()


class HandPolicy(torch.nn.Module):
    """A reference policy built by hand: logit `c` on every odd move index, 0 on the even ones."""

    def __init__(self, c: float) -> None:
        super().__init__()
        from bench.encoding import NUM_MOVES

        self.logits = c * (torch.arange(NUM_MOVES) % 2).float()

    def forward(self, planes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.logits.expand(len(planes), -1), torch.zeros(len(planes))


def uniform_policy(learner: RlvrLearner) -> None:
    """Zero the policy head: the policy is uniform over the legal moves (logits all 0), so rollouts sample with
    log-probability -log(legal moves) and the first update's ratio is exactly 1."""
    with torch.no_grad():
        for param in learner.net.policy.parameters():
            param.zero_()


def captured_batches(learner: RlvrLearner) -> list[Any]:
    batches: list[Any] = []
    run = learner.rollouts.run

    def keep(*args: Any, **kwargs: Any) -> Any:
        batches.append(run(*args, **kwargs))
        return batches[-1]

    learner.rollouts.run = keep
    return batches


@pytest.mark.parametrize("loss_agg", ["token", "sequence"])
def test_kl_to_a_hand_built_reference_and_the_loss_equal_a_hand_count(loss_agg: str) -> None:
    """One update (epochs 1, one minibatch) of a uniform policy against `HandPolicy(c)`: ratio 1, so each move's
    objective is A - beta k3 + h log(n), k3 = e^d - d - 1 with d = log pi_ref(a) - log(1/n) (Schulman 2020), over
    the informative moves, averaged by token or by rollout then rollouts. Computed here with numpy from the
    batch the learner sampled, independent of bench.learners.rlvr.grpo."""
    c, beta, h = 1.5, 0.25, 0.01
    learner = build(kl_coef=beta, ref_update_steps=0, loss_agg=loss_agg, scale_rewards=loss_agg == "token",
                    epochs=1, minibatch=100_000, entropy_coef=h, seed=1, tasks_per_step=8)
    try:
        uniform_policy(learner)
        learner.ref = HandPolicy(c)
        batches = captured_batches(learner)
        learner.improve()
        batch = batches[0]
        rewards = batch.rewards.astype(np.float64)
        centred = rewards - rewards.mean(axis=1, keepdims=True)
        if loss_agg == "token":  # scale_rewards: divided by the group's sample std (+1e-4), 0 where it is 0
            std = rewards.std(axis=1, ddof=1, keepdims=True)
            adv = np.where(std > 0, centred / np.where(std > 0, std + 1e-4, 1.0), 0.0)
        else:
            adv = centred
        per_move = adv.flatten()[batch.rollout_index]
        keep = np.flatnonzero(per_move != 0)
        assert len(keep) > 0, "no informative group: pick another seed"
        n = np.array([len(batch.legal[i]) for i in keep], np.float64)
        assert np.allclose(batch.logp_old[keep], -np.log(n), atol=1e-5)  # the rollouts sampled uniformly
        odd = np.array([np.sum(np.asarray(batch.legal[i]) % 2) for i in keep], np.float64)
        a_odd = batch.actions[keep] % 2
        logp_ref = c * a_odd - np.log((n - odd) + odd * np.exp(c))
        d = logp_ref + np.log(n)
        k3 = np.exp(d) - d - 1
        objective = per_move[keep] - beta * k3 + h * np.log(n)
        if loss_agg == "token":
            loss = -objective.mean()
        else:
            owner = batch.rollout_index[keep]
            loss = -np.mean([objective[owner == r].mean() for r in np.unique(owner)])
        last = learner.last
        assert last["informative_moves"] == len(keep)
        assert last["kl"] == pytest.approx(k3.mean(), rel=1e-4) and k3.mean() > 0.05
        assert last["entropy"] == pytest.approx(np.log(n).mean(), rel=1e-4)
        assert last["loss"] == pytest.approx(loss, rel=1e-4, abs=1e-6)
        assert last["surrogate"] == pytest.approx(per_move[keep].mean(), rel=1e-4, abs=1e-6)
        assert last["clip_fraction"] == 0.0
    finally:
        learner.close()


@pytest.mark.parametrize("every", [0, 1, 2])
def test_reference_policy_is_copied_every_ref_update_steps(every: int) -> None:
    """`ref_update_steps=k`: the reference equals the policy right after steps k, 2k, ...; between them (and
    always with 0) it keeps the weights it had, the initial policy's."""
    learner = build(kl_coef=0.1, ref_update_steps=every, seed=2)
    try:
        initial = {k: v.clone() for k, v in learner.ref.state_dict().items()}
        assert all(torch.equal(initial[k], v) for k, v in learner.net.state_dict().items())
        for step in (1, 2, 3):
            learner.improve()
            net, ref = learner.net.state_dict(), learner.ref.state_dict()
            moved = any(not torch.equal(initial[k], net[k]) for k in initial)
            assert moved, "the policy did not change in a step: the check below would be empty"
            copied = every > 0 and step % every == 0
            same_as_net = all(torch.equal(ref[k], net[k]) for k in ref)
            same_as_before = all(torch.equal(ref[k], previous[k]) for k in ref) if step > 1 else all(
                torch.equal(ref[k], initial[k]) for k in ref)
            assert same_as_net == copied and (copied or same_as_before), (every, step)
            previous = {k: v.clone() for k, v in ref.items()}
    finally:
        learner.close()


def test_bad_opponent_and_warm_start_are_clear_errors(tmp_path: Any) -> None:
    with pytest.raises(BenchError, match="not a ladder rung"):
        build([GeneratorConfig(name="g", source="start", verifier="mate", opponent="grandmaster")])
    path = tmp_path / "net.pt"
    torch.save({"net": {"stem.0.weight": torch.zeros(3)}}, path)
    cfg = OmegaConf.structured(RlvrConfig(policy=PolicyConfig(blocks=1, channels=8, init=str(path)),
                                          generators=RULES_ONLY))
    context = LearnerContext(meter=ComputeMeter(), seed=0, runtime=None, stockfish=None, rungs=[])
    with pytest.raises(BenchError, match="does not match"):
        RlvrLearner(cfg, context)


def test_warm_start_from_a_policy_value_net(tmp_path: Any) -> None:
    from bench.network import PolicyValueNet

    source = PolicyValueNet(1, 8, value_head="wdl")
    path = tmp_path / "mcts.pt"
    torch.save({"net": source.state_dict()}, path)
    cfg = OmegaConf.structured(RlvrConfig(policy=PolicyConfig(blocks=1, channels=8, init=str(path)),
                                          generators=RULES_ONLY))
    context = LearnerContext(meter=ComputeMeter(), seed=0, runtime=None, stockfish=None, rungs=[])
    learner = RlvrLearner(cfg, context)
    try:
        assert torch.equal(learner.net.policy[3].weight, source.policy[3].weight)
    finally:
        learner.close()


@pytest.mark.stockfish
def test_stockfish_opponent_and_engine_verifier() -> None:
    rung = OmegaConf.structured(RungConfig(name="sf", kind="stockfish", nodes=50))
    learner = build([GeneratorConfig(name="g", source="random_play", verifier="result", horizon=3, opponent="sf",
                                     at_horizon="adjudicate")], rungs=[rung])
    try:
        learner.improve()
        assert learner.context.meter.verifier_calls > 0
        assert learner.opponents.players["sf"][0].name == "sf"
    finally:
        learner.close()


def test_merge_puts_shards_back_in_task_order() -> None:
    from bench.learners.rlvr.distributed import merge
    from bench.learners.rlvr.rollouts import RolloutBatch

    def shard(rewards: list[list[float]], owners: list[int], fens: list[str]) -> RolloutBatch:
        n = len(owners)
        return RolloutBatch(np.zeros((n, 14), np.uint64), [np.arange(2)] * n, np.arange(n), np.zeros(n, np.float32),
                            np.asarray(owners), np.asarray(rewards, np.float32), plies=n, verifier_calls=1,
                            forward_flops=1.0, final_fens=fens)

    # 3 tasks, G = 2; shard 0 ran tasks 0 and 2, shard 1 ran task 1
    a = shard([[1, 0], [0.5, 0.5]], [0, 1, 2, 3, 3], ["a0", "a1", "c0", "c1"])
    b = shard([[0, 1]], [1, 1], ["b0", "b1"])
    m = merge([a, b], [[0, 2], [1]], 3, 2)
    assert m.rewards.tolist() == [[1, 0], [0, 1], [0.5, 0.5]]
    assert m.rollout_index.tolist() == [0, 1, 4, 5, 5, 3, 3]
    assert m.final_fens == ["a0", "a1", "b0", "b1", "c0", "c1"]
    assert m.plies == 7 and m.verifier_calls == 2


class ActorDied(Exception):
    """Stands in for ray.exceptions.RayActorError."""


class Ref:
    """A finished task's result, hashable (by identity) like an ObjectRef."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value


class FakeRay:
    """The few Ray calls RayRollouts.run makes, in process: an actor 'dies' while its slot has deaths left."""

    def __init__(self, deaths: dict[int, int]) -> None:
        self.deaths, self.started, self.killed = deaths, [], []

    def put(self, value: Any) -> Any:
        return value

    def wait(self, futures: list[Any], num_returns: int) -> tuple[list[Any], list[Any]]:
        return futures[:num_returns], futures[num_returns:]

    def get(self, future: Any) -> Any:
        slot, batch = future.value
        if self.deaths.get(slot, 0) > 0:
            self.deaths[slot] -= 1
            raise ActorDied(f"actor {slot} died")
        return batch

    def kill(self, actor: Any, no_restart: bool = False) -> None:
        self.killed.append(actor.slot)


def fake_ray_rollouts(fake: FakeRay, workers: int) -> Any:
    """RayRollouts over FakeRay: each actor returns a batch whose rewards name the tasks it ran."""
    from types import SimpleNamespace

    from bench.learners.rlvr.distributed import RayRollouts
    from bench.learners.rlvr.rollouts import RolloutBatch

    class Actor:
        def __init__(self, slot: int) -> None:
            self.slot = slot
            self.run = SimpleNamespace(remote=self.remote)

        def remote(self, weights: Any, tasks: list[dict[str, Any]], group: int, temperature: float, seed: int) -> Any:
            n = len(tasks) * group
            rewards = np.asarray([[float(t["task_id"])] * group for t in tasks], np.float32)
            batch = RolloutBatch(np.zeros((n, 14), np.uint64), [np.arange(2)] * n, np.arange(n), np.zeros(n, np.float32),
                                 np.arange(n), rewards, plies=n)
            return Ref((self.slot, batch))

    def start(*args: Any) -> Actor:
        fake.started.append(args[-1])
        return Actor(args[-1])

    pool = RayRollouts.__new__(RayRollouts)
    pool.ray, pool.lost = fake, ActorDied
    pool.learner = SimpleNamespace(net=torch.nn.Linear(1, 1), context=SimpleNamespace(seed=0))
    pool.actor_class, pool.actor_args = SimpleNamespace(remote=start), ()
    pool.actors = [pool._start(i) for i in range(workers)]
    return pool


def test_ray_rollouts_replace_a_dead_actor_and_resend_its_shard() -> None:
    from bench.learners.rlvr.distributed import MAX_REPLACEMENTS
    from bench.learners.rlvr.tasks import Task

    tasks = [Task(fen=chess.STARTING_FEN, verifier="mate", horizon=1, opponent="random", generator="g",
                  task_id=str(i)) for i in range(5)]
    fake = FakeRay({1: 2})
    pool = fake_ray_rollouts(fake, workers=2)
    batch = pool.run(tasks, 2, 1.0, torch.Generator().manual_seed(0))
    assert batch.rewards[:, 0].tolist() == [0, 1, 2, 3, 4] and batch.workers_replaced == 2
    assert fake.started == [0, 1, 1, 1] and fake.killed == [1, 1]  # slot 1 rebuilt twice, as it was built first
    with pytest.raises(BenchError, match=f"worker 0 died {MAX_REPLACEMENTS + 1} times in one step"):
        fake_ray_rollouts(FakeRay({0: MAX_REPLACEMENTS + 1}), workers=2).run(tasks, 2, 1.0, torch.Generator())


@pytest.mark.slow
def test_ray_runtime_runs_a_step() -> None:
    pytest.importorskip("ray")
    cfg = OmegaConf.structured(RlvrConfig(policy=PolicyConfig(blocks=1, channels=8),
                                          grpo=GrpoConfig(tasks_per_step=4, group_size=4), generators=RULES_ONLY))
    runtime = OmegaConf.structured(RuntimeConfig(kind="ray", workers=2))
    context = LearnerContext(meter=ComputeMeter(), seed=0, runtime=runtime,
                             stockfish=OmegaConf.structured(StockfishConfig()),
                             rungs=[OmegaConf.structured(RungConfig(name="random", kind="random"))])
    learner = RlvrLearner(cfg, context)
    try:
        learner.improve()
        assert context.meter.samples["rollouts"] == 16 and context.meter.infer_flops > 0
    finally:
        learner.close()
