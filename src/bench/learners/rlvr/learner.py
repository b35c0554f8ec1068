"""The rlvr learner: GRPO on a small policy network, with tasks from an autocurriculum and rewards from verifiers.

One `improve()` is one GRPO step, read top to bottom:
  1. draw `tasks_per_step` tasks from the pool (plus fresh candidates),
  2. play G rollouts of each, all in lockstep so the network sees one batch per ply (`rollouts.py`),
  3. score each rollout with its verifier (rules or Stockfish, `verifiers.py`),
  4. normalise rewards within each group into advantages and take clipped-ratio gradient steps (`grpo.py`),
  5. report FLOPs, samples and verifier calls to the meter, and update the pool (`curriculum.py`).
"""

from __future__ import annotations

import copy
import logging
import random
import threading
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from bench.compute import OUTSIDE_KNOWLEDGE, FlopCounter
from bench.cpus import available_cpus
from bench.encoding import NUM_PLANES, expand_compact
from bench.errors import BenchError
from bench.learners import LearnerContext
from bench.learners.rlvr.curriculum import Generator, TaskPool
from bench.learners.rlvr.grpo import grpo_loss, group_advantages
from bench.learners.rlvr.player import PolicyPlayer
from bench.learners.rlvr.rollouts import Opponents, RolloutBatch, RolloutEngine
from bench.learners.rlvr.sources import RandomPlaySource, ReservoirSource
from bench.learners.rlvr.tasks import Task
from bench.learners.rlvr.verifiers import EnginePool, Verifiers, stops_after_last_move
from bench.network import NUM_MOVES, PolicyValueNet, masked_log_softmax

log = logging.getLogger(__name__)

SEED_TOKENS_PER_TASK = 20_000 * 16
"""The seeds' arithmetic for an LLM: a 20K-token rollout x 16 samples = 320K (~300K) tokens per task."""


def load_warm_start(net: PolicyValueNet, path: str) -> None:
    """Load a PolicyValueNet state dict (bare, or under `net`/`model`/`policy` in a checkpoint) into `net`."""
    p = Path(path)
    if not p.is_file():
        raise BenchError(f"learner.policy.init={path} does not exist; give a checkpoint of a PolicyValueNet")
    state = torch.load(p, map_location="cpu", weights_only=False)
    for key in ("net", "model", "policy"):
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
            break
    own = net.state_dict()
    policy_keys = [k for k in own if not k.startswith("value")]
    missing = [k for k in policy_keys if k not in state or tuple(state[k].shape) != tuple(own[k].shape)]
    if missing:
        raise BenchError(
            f"learner.policy.init={path}: the tower/policy head does not match blocks={net.blocks}, "
            f"channels={net.channels} (first mismatch: {missing[0]}); set learner.policy to the checkpoint's size"
        )
    net.load_state_dict({k: state[k] for k in policy_keys}, strict=False)


class RlvrLearner:
    """GRPO from verifiable rewards over an autocurriculum of chess tasks; see the module docstring."""

    name = "rlvr"

    def __init__(self, cfg: Any, context: LearnerContext) -> None:
        self.cfg, self.context = cfg, context
        runtime = context.runtime
        if runtime is not None and str(getattr(runtime, "kind", "local")) not in ("local", "ray"):
            raise BenchError(f"runtime.kind={runtime.kind!r}; the rlvr learner runs with local or ray")
        if runtime is not None and int(getattr(runtime, "torch_threads", 0) or 0) > 0:
            torch.set_num_threads(int(runtime.torch_threads))
        self.device = str(getattr(runtime, "device", "cpu") or "cpu")
        seed = int(context.seed)
        self.rng = random.Random(seed)
        self.generator = torch.Generator().manual_seed(seed)
        torch.manual_seed(seed)
        pc, g = cfg.policy, cfg.grpo
        self.net = PolicyValueNet(int(pc.blocks), int(pc.channels), value_head=str(pc.value_head),
                                  value_pool=bool(pc.value_pool), policy_head=str(pc.policy_head),
                                  policy_dim=int(pc.policy_dim)).to(self.device)
        if pc.init:
            load_warm_start(self.net, str(pc.init))
        # BatchNorm stays in inference mode: sampling and training must see the same policy for the ratio.
        self.net.eval()
        self.ref: PolicyValueNet | None = copy.deepcopy(self.net) if float(g.kl_coef) > 0 else None
        self.opt = torch.optim.Adam(self.net.parameters(), lr=float(g.lr), weight_decay=float(g.weight_decay))
        workers = int(cfg.engine_workers) or int(getattr(runtime, "workers", 0) or 0) or available_cpus()
        stockfish = context.stockfish
        self.engines = EnginePool(workers, getattr(stockfish, "path", None), int(getattr(stockfish, "hash_mb", 16)),
                                  float(getattr(stockfish, "move_timeout", 30.0)))
        self.verifiers = Verifiers(self.engines)
        self.opponents = Opponents(context.rungs, workers, stockfish, seed)
        self.reservoir = ReservoirSource(int(cfg.rollout_buffer), RandomPlaySource(4, 60))
        generators = [
            Generator(gc, int(cfg.pool.max_generate_tries), self.reservoir, context.run_dir) for gc in cfg.generators
        ]
        for gen in generators:
            self.opponents.resolve(str(gen.cfg.opponent))  # a bad rung name fails now, not mid-run
        self.params = {gen.name: gen.cfg for gen in generators}
        self.pool = TaskPool(cfg.pool, generators, self.rng)
        self.flops = FlopCounter()
        self.rollouts = RolloutEngine(self.net, self.opponents, self.verifiers, self._params_of, self._measured_forward,
                                      self.device)
        if str(getattr(runtime, "kind", "local")) == "ray":
            from bench.learners.rlvr.distributed import RayRollouts

            self.rollouts = RayRollouts(self, runtime)  # type: ignore[assignment]
        self.steps = 0
        self.totals: dict[str, float] = {"tasks": 0, "rollouts": 0, "moves": 0, "plies": 0, "verifier_calls": 0}
        # processes that died or hung and were replaced since the run began: Ray rollout actors, verifier engines
        self.replaced = {"workers": 0, "verifier_engines": 0}
        self.reward_by_generator: dict[str, list[float]] = {}
        self.last: dict[str, float] = {}
        self._lock = threading.Lock()
        self._flops_per_position: float | None = None
        context.meter.set_episode_kind("rollouts")

    # -- accounting helpers -------------------------------------------------------------------------------
    def _params_of(self, task: Task) -> Any:
        if task.generator not in self.params:
            raise BenchError(f"task {task.task_id} names generator {task.generator!r}, which is not configured")
        return self.params[task.generator]

    def _measured(self, key: Any, run: Callable[[], Any]) -> float:
        """Run `run` once; its FLOPs are measured under FlopCounterMode the first time `key` is seen."""
        known = self.flops.known(key)
        if known is None:
            return self.flops.count(key, run)
        run()
        return known

    def _measured_forward(self, batch: int, run: Callable[[], Any]) -> float:
        return self._measured(("rollout_forward", batch), run)

    # -- one GRPO step ------------------------------------------------------------------------------------
    def improve(self) -> None:
        g = self.cfg.grpo
        drawn = self.pool.batch(int(g.tasks_per_step))
        tasks = [task for task, _ in drawn]
        group = int(g.group_size)
        batch = self.rollouts.run(tasks, group, float(g.temperature), self.generator)
        train_flops, infer_flops, parts = self._train(batch, len(tasks), group)
        meter = self.context.meter
        meter.add_train_flops(train_flops)
        meter.add_infer_flops(batch.forward_flops + infer_flops)
        meter.add_samples("rollouts", len(tasks) * group)
        meter.add_samples("tasks", len(tasks))
        meter.add_samples("positions", len(batch.actions))  # the learner's own moves, not its opponents' replies
        meter.add_samples("forward_passes", len(batch.actions))  # one policy forward per move chosen
        meter.add_samples("tokens", len(batch.actions))
        meter.add_verifier_calls(batch.verifier_calls)
        meter.add_engine_nodes(batch.engine_nodes, new_games=batch.engine_new_games, starts=batch.engine_starts)
        self.pool.update([(task, fresh, batch.rewards[t]) for t, (task, fresh) in enumerate(drawn)])
        for fen in batch.final_fens[:: max(1, group // 2)]:
            self.reservoir.add(fen, self.rng)
        for t, task in enumerate(tasks):
            window = self.reward_by_generator.setdefault(task.generator, [])
            window.append(float(batch.rewards[t].mean()))
            del window[:-50]
        self.steps += 1
        self.replaced["workers"] += batch.workers_replaced
        self.replaced["verifier_engines"] += batch.verifier_engines_replaced
        for key, value in (("tasks", len(tasks)), ("rollouts", len(tasks) * group), ("moves", len(batch.actions)),
                           ("plies", batch.plies), ("verifier_calls", batch.verifier_calls),
                           ("engine_nodes", batch.engine_nodes)):
            self.totals[key] = self.totals.get(key, 0.0) + value  # (engine_nodes: absent from older checkpoints)
        self.last = {"reward_mean": float(batch.rewards.mean()), **parts}
        if self.ref is not None and int(g.ref_update_steps) > 0 and self.steps % int(g.ref_update_steps) == 0:
            self.ref.load_state_dict(self.net.state_dict())
        if int(self.cfg.log_every) and self.steps % int(self.cfg.log_every) == 0:
            log.info("rlvr step %d: reward %.3f pool %d %s", self.steps, self.last["reward_mean"],
                     len(self.pool.entries), {k: round(v, 4) for k, v in parts.items()})

    def _train(self, batch: RolloutBatch, tasks: int, group: int) -> tuple[float, float, dict[str, float]]:
        """Clipped-ratio gradient steps on the moves of informative groups; returns (train FLOPs, ref FLOPs, stats)."""
        g = self.cfg.grpo
        advantages = group_advantages(torch.from_numpy(batch.rewards), scale=bool(g.scale_rewards)).flatten()
        per_move = advantages[torch.from_numpy(batch.rollout_index)]
        # groups whose rewards are all equal carry no signal (advantage 0): skip their moves (DAPO's dynamic sampling)
        keep = self._subsample(np.flatnonzero(per_move.abs().numpy() > 0), batch.rollout_index, int(g.train_moves))
        stats = {"loss": 0.0, "surrogate": 0.0, "kl": 0.0, "entropy": 0.0, "clip_fraction": 0.0,
                 "informative_moves": float(len(keep))}
        if len(keep) == 0:
            return 0.0, 0.0, stats
        mb = max(1, int(g.minibatch))
        train_flops = ref_flops = 0.0
        updates = 0
        temperature = max(float(g.temperature), 1e-6)
        for _ in range(max(1, int(g.epochs))):
            order = keep[torch.randperm(len(keep), generator=self.generator).numpy()]
            for start in range(0, len(order), mb):
                idx = order[start : start + mb]
                planes = torch.from_numpy(expand_compact(batch.compact[idx])).to(self.device)
                mask = torch.zeros(len(idx), NUM_MOVES, dtype=torch.bool)
                legal = [batch.legal[i] for i in idx]
                rows = torch.repeat_interleave(torch.arange(len(idx)), torch.tensor([len(x) for x in legal]))
                mask[rows, torch.from_numpy(np.concatenate(legal))] = True
                actions = torch.from_numpy(batch.actions[idx])
                logp_ref = None
                if self.ref is not None:
                    with torch.no_grad():
                        out_ref: dict[str, torch.Tensor] = {}
                        ref_flops += self._measured(
                            ("ref_forward", len(idx)), lambda: out_ref.setdefault("l", self.ref(planes)[0])
                        )
                        ref_all = masked_log_softmax(out_ref["l"].float().cpu() / temperature, mask)
                        logp_ref = ref_all.gather(1, actions[:, None]).squeeze(1)
                result: dict[str, Any] = {}

                def step() -> None:
                    logits = self.net(planes)[0].float().cpu() / temperature
                    parts = grpo_loss(
                        masked_log_softmax(logits, mask), mask, actions, torch.from_numpy(batch.logp_old[idx]),
                        per_move[idx], torch.from_numpy(batch.rollout_index[idx]), tasks * group,
                        float(g.clip_low), float(g.clip_high), float(g.kl_coef), logp_ref, float(g.entropy_coef),
                        str(g.loss_agg),
                    )
                    self.opt.zero_grad(set_to_none=True)
                    parts.loss.backward()
                    result["parts"] = parts

                train_flops += self._measured(("train", len(idx)), step)
                parts = result["parts"]
                if not torch.isfinite(parts.loss):
                    log.warning("rlvr step %d: non-finite loss, update skipped (lower grpo.lr?)", self.steps)
                    self.opt.zero_grad(set_to_none=True)
                    stats["skipped_updates"] = stats.get("skipped_updates", 0.0) + 1
                    continue
                if float(g.max_grad_norm) > 0:
                    torch.nn.utils.clip_grad_norm_(self.net.parameters(), float(g.max_grad_norm))
                self.opt.step()
                updates += 1
                for key in ("surrogate", "kl", "entropy", "clip_fraction"):
                    stats[key] += getattr(parts, key)
                stats["loss"] += float(parts.loss.detach())
        for key in ("loss", "surrogate", "kl", "entropy", "clip_fraction"):
            stats[key] /= max(1, updates)
        return train_flops, ref_flops, stats

    def _subsample(self, keep: np.ndarray, owner: np.ndarray, cap: int) -> np.ndarray:
        """At most `cap` moves of each rollout, drawn at random (all when cap <= 0): a game to the end carries one
        reward over a hundred moves, and a random share of them gives the same direction at a fraction of the cost."""
        if cap <= 0 or len(keep) == 0:
            return keep
        perm = keep[torch.randperm(len(keep), generator=self.generator).numpy()]
        owners = owner[perm]
        order = np.argsort(owners, kind="stable")
        ranked = owners[order]
        rank = np.arange(len(order)) - np.searchsorted(ranked, ranked, side="left")
        return np.sort(perm[order[rank < cap]])

    # -- players and records ------------------------------------------------------------------------------
    def flops_per_position(self) -> float:
        if self._flops_per_position is None:
            example = torch.zeros(1, NUM_PLANES, 8, 8, device=self.device)
            with torch.no_grad():
                self._flops_per_position = self._measured(("player_forward", 1), lambda: self.net(example))
        return self._flops_per_position

    def make_player(self) -> PolicyPlayer:
        with self._lock:
            snapshot = copy.deepcopy(self.net).to("cpu").eval()
            flops = self.flops_per_position()
        return PolicyPlayer(snapshot, f"rlvr-step{self.steps}", float(self.cfg.policy.eval_temperature), flops,
                            seed=int(self.context.seed))

    def outside_knowledge(self) -> list[str]:
        """Knowledge beyond the rules of chess this learner's learning uses (names from compute.OUTSIDE_KNOWLEDGE),
        from its generators: Stockfish opponents in rollouts that get a reply, rewards from Stockfish's evaluation
        (`eval`, `result` at the horizon, `material` confirmed by the engine) and material counts as rewards."""
        used: list[str] = []
        rungs = {str(r.name): r for r in self.context.rungs}
        for gc in self.params.values():
            opponent = rungs.get(self.opponents.resolve(str(gc.opponent)))
            replies = int(gc.horizon) > 1 or not stops_after_last_move(str(gc.verifier))
            if opponent is not None and str(opponent.kind) != "random" and replies:
                used.append("engine opponent")
            if str(gc.verifier) in ("eval", "result") or (str(gc.verifier) == "material" and int(gc.confirm_nodes) > 0):
                used.append("engine-judged rewards")
            if str(gc.verifier) in ("material", "capture"):
                used.append("material adjudication")
        return [name for name in OUTSIDE_KNOWLEDGE if name in used]

    def eval_info(self) -> dict[str, Any]:
        tasks = max(1.0, self.totals["tasks"])
        return {
            "outside_knowledge": self.outside_knowledge(),
            "steps": self.steps,
            "pool": self.pool.stats(),
            "per_task": {
                "tokens": self.totals["moves"] / tasks,
                "rollouts": self.totals["rollouts"] / tasks,
                "plies": self.totals["plies"] / tasks,
                "verifier_calls": self.totals["verifier_calls"] / tasks,
                "seed_llm_tokens": SEED_TOKENS_PER_TASK,
            },
            "reward_by_generator": {k: float(np.mean(v)) for k, v in sorted(self.reward_by_generator.items()) if v},
            "last_step": dict(self.last),
            "workers_replaced": self.replaced["workers"],
            "verifier_engines_replaced": self.replaced["verifier_engines"],
        }

    def state_dict(self) -> dict[str, Any]:
        return {
            "net": self.net.state_dict(),
            "net_config": self.net.config(),
            "ref": self.ref.state_dict() if self.ref is not None else None,
            "optimizer": self.opt.state_dict(),
            "pool": self.pool.state_dict(),
            "reservoir": {"fens": list(self.reservoir.fens), "seen": self.reservoir.seen},
            "rng": {"python": self.rng.getstate(), "torch": self.generator.get_state()},
            "opponents": self.opponents.state_dict(),
            "steps": self.steps,
            "totals": dict(self.totals),
            "replaced": dict(self.replaced),
            "reward_by_generator": {k: list(v) for k, v in self.reward_by_generator.items()},
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.net.load_state_dict(state["net"])
        self.net.eval()
        if self.ref is not None and state.get("ref") is not None:
            self.ref.load_state_dict(state["ref"])
        self.opt.load_state_dict(state["optimizer"])
        self.pool.load_state_dict(state["pool"])
        self.reservoir.fens = list(state["reservoir"]["fens"])
        self.reservoir.seen = int(state["reservoir"]["seen"])
        self.rng.setstate(state["rng"]["python"])
        self.generator.set_state(state["rng"]["torch"])
        self.opponents.load_state_dict(state.get("opponents", {}))
        self.steps = int(state["steps"])
        self.totals = {k: float(v) for k, v in state["totals"].items()}
        self.replaced = {**self.replaced, **state.get("replaced", {})}
        self.reward_by_generator = {k: list(v) for k, v in state.get("reward_by_generator", {}).items()}

    def close(self) -> None:
        self.rollouts.close()
        self.opponents.close()
        self.verifiers.close()
