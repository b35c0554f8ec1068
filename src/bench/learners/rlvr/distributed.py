"""`runtime=ray`: the rollouts of a GRPO step spread over Ray actors, each a full `RolloutEngine` on a shard of tasks.

Each actor holds a copy of the policy (weights are broadcast once per step with `ray.put`), its own opponents
(one engine process per rung) and its own verifier engine. The learner keeps training in its own process; the
returned batches are merged back into task order, so the step reads exactly as with `runtime=local`.

An actor that dies mid-step (its process killed, its node lost) is replaced by a fresh one built the same way, and
its shard is sent again with the step's weights and seed; the step's batch is of the same kind as without the fault,
and `workers_replaced` (in the learner's records) counts the replacements. A shard whose worker dies
`MAX_REPLACEMENTS` times in one step ends the run with a BenchError.
"""

from __future__ import annotations

import logging
from types import SimpleNamespace
from typing import Any, Sequence

import numpy as np
import torch
from omegaconf import OmegaConf

from bench.compute import FlopCounter
from bench.errors import BenchError
from bench.learners.rlvr.rollouts import Opponents, RolloutBatch, RolloutEngine
from bench.learners.rlvr.tasks import Task
from bench.learners.rlvr.verifiers import EnginePool, Verifiers
from bench.network import PolicyValueNet

log = logging.getLogger(__name__)

MAX_REPLACEMENTS = 3
"""Fresh actors one shard may get within one step before the step fails (a worker that keeps dying is a bug)."""


def _plain(node: Any) -> Any:
    return OmegaConf.to_container(node, resolve=True) if OmegaConf.is_config(node) else node


class RolloutActor:
    """One rollout worker: a policy copy, opponents and a verifier engine, answering `run` calls."""

    def __init__(self, net_config: dict[str, Any], generators: dict[str, dict[str, Any]], rungs: list[dict[str, Any]],
                 stockfish: dict[str, Any] | None, seed: int, device: str = "cpu") -> None:
        torch.set_num_threads(1)
        self.net = PolicyValueNet(**net_config).to(device).eval()
        self.params = {name: SimpleNamespace(**cfg) for name, cfg in generators.items()}
        sf = SimpleNamespace(**(stockfish or {}))
        self.counter = FlopCounter()
        self.opponents = Opponents([SimpleNamespace(**r) for r in rungs], 1, sf, seed)
        self.verifiers = Verifiers(EnginePool(1, getattr(sf, "path", None), int(getattr(sf, "hash_mb", 16)),
                                              float(getattr(sf, "move_timeout", 30.0))))
        self.engine = RolloutEngine(self.net, self.opponents, self.verifiers, lambda t: self.params[t.generator],
                                    self._flops, device)

    def _flops(self, batch: int, run: Any) -> float:
        known = self.counter.known(batch)
        if known is None:
            return self.counter.count(batch, run)
        run()
        return known

    def run(self, weights: dict[str, torch.Tensor], tasks: list[dict[str, Any]], group: int, temperature: float,
            seed: int) -> RolloutBatch:
        self.net.load_state_dict(weights)
        self.net.eval()
        generator = torch.Generator().manual_seed(seed)
        return self.engine.run([Task.from_dict(t) for t in tasks], group, temperature, generator)

    def close(self) -> None:
        self.engine.close()
        self.opponents.close()
        self.verifiers.close()


def merge(batches: Sequence[RolloutBatch], shards: Sequence[Sequence[int]], tasks: int, group: int) -> RolloutBatch:
    """One batch in global task order from per-shard batches (shard k ran the tasks `shards[k]`)."""
    rewards = np.zeros((tasks, group), dtype=np.float32)
    owners, fens = [], [""] * (tasks * group)
    for batch, shard in zip(batches, shards):
        global_task = np.asarray(shard, dtype=np.int64)
        local_task, slot = np.divmod(batch.rollout_index, group)
        owners.append(global_task[local_task] * group + slot)
        rewards[global_task] = batch.rewards
        for r, fen in enumerate(batch.final_fens):
            fens[shard[r // group] * group + r % group] = fen
    return RolloutBatch(
        compact=np.concatenate([b.compact for b in batches]),
        legal=[x for b in batches for x in b.legal],
        actions=np.concatenate([b.actions for b in batches]),
        logp_old=np.concatenate([b.logp_old for b in batches]),
        rollout_index=np.concatenate(owners),
        rewards=rewards,
        plies=sum(b.plies for b in batches),
        verifier_calls=sum(b.verifier_calls for b in batches),
        forward_flops=sum(b.forward_flops for b in batches),
        final_fens=fens,
        verifier_engines_replaced=sum(b.verifier_engines_replaced for b in batches),
        engine_nodes=sum(b.engine_nodes for b in batches),
        engine_new_games=sum(b.engine_new_games for b in batches),
        engine_starts=sum(b.engine_starts for b in batches),
    )


class RayRollouts:
    """`RolloutEngine.run` over Ray actors (one CPU each); starts a local Ray cluster unless an address is given."""

    def __init__(self, learner: Any, runtime: Any) -> None:
        try:
            import ray
            import ray.exceptions
        except ModuleNotFoundError as exc:
            raise BenchError("runtime=ray needs Ray: pip install 'bench[ray]' (ray==2.60.0)") from exc
        self.ray, self.learner = ray, learner
        workers = int(getattr(runtime, "workers", 0) or 0) or 2
        self.started = False
        if not ray.is_initialized():
            address = getattr(runtime, "ray_address", None)
            if address:
                ray.init(address=address, include_dashboard=False, log_to_driver=False)
            else:
                ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False)
            self.started = True
        generators = {name: _plain(cfg) for name, cfg in learner.params.items()}
        rungs = [_plain(r) for r in learner.context.rungs]
        stockfish = _plain(learner.context.stockfish)
        self.actor_class = ray.remote(num_cpus=1)(RolloutActor)
        self.actor_args = (learner.net.config(), generators, rungs, stockfish)
        self.lost = ray.exceptions.RayActorError  # ActorDiedError and ActorUnavailableError are its subclasses
        self.actors = [self._start(i) for i in range(workers)]

    def _start(self, slot: int) -> Any:
        """The actor for worker `slot` (a replacement is built exactly like the first)."""
        return self.actor_class.remote(*self.actor_args, int(self.learner.context.seed) * 1000 + slot)

    def _replace(self, slot: int) -> None:
        try:
            self.ray.kill(self.actors[slot], no_restart=True)
        except Exception:  # already gone
            pass
        self.actors[slot] = self._start(slot)

    def run(self, tasks: Sequence[Task], group: int, temperature: float, generator: torch.Generator) -> RolloutBatch:
        shards = [list(range(k, len(tasks), len(self.actors))) for k in range(len(self.actors))]
        shards = [s for s in shards if s]
        seeds = torch.randint(0, 2**31 - 1, (len(shards),), generator=generator).tolist()
        weights = self.ray.put({k: v.detach().cpu() for k, v in self.learner.net.state_dict().items()})
        payloads = [[tasks[i].to_dict() for i in shard] for shard in shards]

        def submit(k: int) -> Any:
            return self.actors[k].run.remote(weights, payloads[k], group, temperature, seeds[k])

        pending = {submit(k): k for k in range(len(shards))}
        batches: dict[int, RolloutBatch] = {}
        deaths = [0] * len(shards)
        while pending:
            done, _ = self.ray.wait(list(pending), num_returns=1)
            k = pending.pop(done[0])
            try:
                batches[k] = self.ray.get(done[0])
            except self.lost as exc:
                deaths[k] += 1
                if deaths[k] > MAX_REPLACEMENTS:
                    raise BenchError(f"rlvr rollout worker {k} died {deaths[k]} times in one step (last: "
                                     f"{type(exc).__name__}); see the Ray logs for why") from exc
                log.warning("rlvr rollout worker %d died (%s); replacing it and sending its %d tasks again", k,
                            type(exc).__name__, len(shards[k]))
                self._replace(k)
                pending[submit(k)] = k
        batch = merge([batches[k] for k in range(len(shards))], shards, len(tasks), group)
        batch.workers_replaced = sum(deaths)
        return batch

    def close(self) -> None:
        for actor in self.actors:
            try:
                self.ray.get(actor.close.remote())
            except Exception:
                pass
            self.ray.kill(actor)
        self.actors = []
        if self.started:
            self.ray.shutdown()
            self.started = False
