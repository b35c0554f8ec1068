"""The mcts learner, top to bottom: self-play workers fill a replay buffer, the trainer learns from it, new
weights go back to the workers. One `improve()` = every worker advances its lockstep games a few plies, then
the trainer runs as many steps as the training ratio (`sample_reuse`) allows for the new positions.

With `pipeline` (the default) the workers already play the next few plies while the trainer learns from the
last ones, as in AlphaZero's asynchronous actors and learner: self-play then uses weights one `improve()` old,
and the cores that the trainer leaves idle are not wasted.
"""

from __future__ import annotations

import copy
from collections import Counter
from dataclasses import asdict, fields, is_dataclass
from typing import Any

import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf

from bench.cpus import available_cpus
from bench.errors import BenchError
from bench.learners import LearnerContext
from bench.learners.mcts.config import MctsConfig
from bench.learners.mcts.player import MctsPlayer
from bench.learners.mcts.replay import ReplayBuffer
from bench.learners.mcts.search import SCANS
from bench.learners.mcts.train import Trainer
from bench.learners.mcts.workers import InProcessPool, LocalPool, RayPool, build_network
from bench.network import POLICY_HEADS, PolicyValueNet, forward_flops_per_position, parameter_count


def _plain(cfg: Any) -> dict[str, Any]:
    """The learner config as a plain dict (picklable for worker processes and Ray)."""
    if isinstance(cfg, DictConfig):
        return dict(OmegaConf.to_container(cfg, resolve=True))
    if is_dataclass(cfg):
        return asdict(cfg)
    return dict(cfg)


class MctsLearner:
    """AlphaZero-style learning from self-play (see the package docstring)."""

    name = "mcts"

    def __init__(self, cfg: Any, context: LearnerContext) -> None:
        defaults = {f.name: getattr(MctsConfig(), f.name) for f in fields(MctsConfig)}
        self.cfg_dict = {**defaults, **_plain(cfg)}
        self.cfg = MctsConfig(**self.cfg_dict)
        if self.cfg.policy_target not in ("visits", "completed_q"):
            raise BenchError(f"learner.policy_target={self.cfg.policy_target!r}: use visits or completed_q")
        for field in ("scan", "eval_scan"):
            if getattr(self.cfg, field) not in SCANS + ((None,) if field == "eval_scan" else ()):
                raise BenchError(f"learner.{field}={getattr(self.cfg, field)!r}: use one of {', '.join(SCANS)}")
        for field in ("adjudication", "shuffle_draws"):
            if getattr(self.cfg, field) not in ("draw", "material"):
                raise BenchError(f"learner.{field}={getattr(self.cfg, field)!r}: use draw or material")
        for field in ("contempt", "eval_contempt"):
            value = getattr(self.cfg, field)
            if value is not None and not 0.0 <= float(value) <= 1.0:
                raise BenchError(f"learner.{field}={value!r}: a draw score between 0 and 1")
        if self.cfg.policy_head not in POLICY_HEADS:
            raise BenchError(f"learner.policy_head={self.cfg.policy_head!r}: use one of {', '.join(POLICY_HEADS)}")
        self.context = context
        runtime = context.runtime
        self.device = str(getattr(runtime, "device", "cpu") or "cpu")
        self.runtime_kind = str(getattr(runtime, "kind", "local") or "local")
        self.workers = int(getattr(runtime, "workers", 0) or 0) or available_cpus()
        self.ray_address = getattr(runtime, "ray_address", None)
        torch.manual_seed(context.seed)
        self.net = build_network(self.cfg).to(self.device)
        self.trainer = Trainer(self.net, self.cfg, self.device)
        self.replay = ReplayBuffer(self.cfg.replay_capacity, self.cfg.policy_top_k)
        self.rng = np.random.default_rng([context.seed, 1])
        self.generation = 0
        self.published = -1
        self.train_credit = 0.0
        self.totals: Counter = Counter()
        self.losses: dict[str, float] = {}
        self.pool: Any = None
        self.pool_replaced = 0
        self.in_flight = False
        """Whether the workers are playing plies submitted by the last `improve()` (pipelined self-play)."""
        self.flops_per_position = forward_flops_per_position(self.net)
        context.meter.set_episode_kind("games")

    # --- the loop
    def improve(self) -> None:
        if self.pool is None:
            self.pool = self._start_pool()
        if not self.in_flight:
            self._submit()
        results = self.pool.collect()
        self.in_flight = False
        self.totals["workers_replaced"] += getattr(self.pool, "replaced", 0) - self.pool_replaced
        self.pool_replaced = getattr(self.pool, "replaced", 0)
        if self.cfg.pipeline:
            self._submit()
        meter = self.context.meter
        new = 0
        for result in results:
            s = result["samples"]
            self.replay.add(s["planes"], s["policy_index"], s["policy_prob"], s["outcome"], s["root_q"])
            new += len(s["planes"])
            stats = result["stats"]
            self.totals.update(stats)
            meter.add_infer_flops(result["infer_flops"])
            meter.add_samples("games", stats.get("games", 0))
            meter.add_samples("positions", stats.get("positions", 0))
            meter.add_samples("simulations", stats.get("simulations", 0))
            meter.add_samples("forward_passes", result["evaluated"])  # search leaves the worker's network evaluated
        self.totals["positions_recorded"] += new
        self.train_credit += new * self.cfg.sample_reuse / self.cfg.batch_size
        if self.replay.size < self.cfg.min_replay:
            return
        steps = int(self.train_credit)
        self.train_credit -= steps
        for _ in range(steps):
            batch = self.replay.sample(self.cfg.batch_size, self.rng)
            losses = self.trainer.step(*batch)
            meter.add_train_flops(losses.pop("flops"))
            for k, v in losses.items():  # exponential moving average for the records
                self.losses[k] = v if k not in self.losses else 0.9 * self.losses[k] + 0.1 * v
        if steps:
            self.generation += 1

    def _submit(self) -> None:
        """Publish the newest weights (if changed) and start the workers on their next plies."""
        if self.published != self.generation:
            weights = {k: v.detach().cpu() for k, v in self.net.state_dict().items()}
            self.pool.set_weights(weights, self.generation)
            self.published = self.generation
        self.pool.submit(self.cfg.moves_per_improve)
        self.in_flight = True

    def _start_pool(self) -> Any:
        self.pool_replaced = 0
        args = (self.cfg_dict, self.context.seed, self.workers, self.generation, self.device)
        if self.cfg.in_process:
            return InProcessPool(*args)
        if self.runtime_kind == "ray":
            return RayPool(*args, address=self.ray_address, torch_threads=self.cfg.worker_torch_threads)
        if self.runtime_kind == "local":
            return LocalPool(*args, torch_threads=self.cfg.worker_torch_threads)
        raise ValueError(f"unknown runtime.kind {self.runtime_kind!r}; use local or ray")

    # --- evaluation
    def make_player(self) -> MctsPlayer:
        snapshot = copy.deepcopy(self.net).eval()
        return MctsPlayer(
            snapshot,
            self.cfg.eval_simulations,
            name=f"mcts-g{self.generation}-s{self.cfg.eval_simulations}",
            c_puct=self.cfg.c_puct,
            fpu=self.cfg.fpu,
            leaves_per_step=self.cfg.eval_leaves_per_step,
            device=self.device,
            seed=self.context.seed,
            scan=self.cfg.eval_scan or self.cfg.scan,
            fpu_reduction=self.cfg.fpu_reduction,
            contempt=self.cfg.contempt if self.cfg.eval_contempt is None else self.cfg.eval_contempt,
            root_width=self.cfg.root_width,
            completed_q=(self.cfg.completed_q_visit, self.cfg.choice_q_scale),
        )

    def outside_knowledge(self) -> list[str]:
        """Knowledge beyond the rules of chess this learner's learning uses (names from compute.OUTSIDE_KNOWLEDGE):
        a material count scores self-play games that reach the ply cap under `adjudication=material`, or that are
        drawn by repetition or fifty moves under `shuffle_draws=material`. Random openings and endgame starts only
        choose where games begin; the rules score them. A draw score (`contempt`) is a search setting, not
        knowledge of chess."""
        uses_material = "material" in (self.cfg.adjudication, self.cfg.shuffle_draws)
        return ["material adjudication"] if uses_material else []

    def eval_info(self) -> dict[str, Any]:
        t = self.totals
        games = max(t["games"], 1)
        return {
            "outside_knowledge": self.outside_knowledge(),
            "eval_simulations": self.cfg.eval_simulations,
            "generation": self.generation,
            "train_steps": self.trainer.steps,
            "replay_size": self.replay.size,
            "replay_added": self.replay.added,
            "network": {"blocks": self.cfg.blocks, "channels": self.cfg.channels,
                        "parameters": parameter_count(self.net), "forward_flops_per_position": self.flops_per_position},
            "losses": {k: round(v, 4) for k, v in self.losses.items()},
            "selfplay": {
                "games": t["games"], "positions": t["positions"], "positions_recorded": t["positions_recorded"],
                "simulations": t["simulations"], "mean_plies": round(t["plies"] / games, 1),
                "white_wins": t["white_wins"], "black_wins": t["black_wins"], "draws": t["draws"],
                "mates": t["mates"], "draws_by_rule": t["draws_by_rule"],
                "adjudicated": t["adjudicated"], "adjudication": self.cfg.adjudication,
                "max_plies": self.cfg.max_plies,
                "resigned": t["resigned"], "resign_checks": t["resign_checks"],
                "resign_false_positives": t["resign_false_positives"],
            },
            "workers_replaced": t["workers_replaced"],
        }

    # --- checkpoints
    def state_dict(self) -> dict[str, Any]:
        return {
            "net": {k: v.detach().cpu().clone() for k, v in self.net.state_dict().items()},  # a snapshot, not a view
            "net_config": self.net.config(),
            "optimizer": self.trainer.optimizer.state_dict(),
            "trainer_steps": self.trainer.steps,
            "replay": self.replay.state_dict(),
            "rng": self.rng.bit_generator.state,
            "torch_rng": torch.get_rng_state(),
            "generation": self.generation,
            "train_credit": self.train_credit,
            "totals": dict(self.totals),
            "losses": dict(self.losses),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.net.load_state_dict(state["net"])
        self.trainer.optimizer.load_state_dict(state["optimizer"])
        self.trainer.steps = int(state["trainer_steps"])
        self.replay.load_state_dict(state["replay"])
        self.rng.bit_generator.state = state["rng"]
        torch.set_rng_state(state["torch_rng"])
        self.generation = int(state["generation"])
        self.train_credit = float(state["train_credit"])
        self.totals = Counter(state["totals"])
        self.losses = dict(state["losses"])
        if self.pool is not None:  # workers restart from the loaded generation (their games start afresh)
            self.close()
        self.published = -1

    def close(self) -> None:
        if self.pool is not None:
            if self.in_flight:  # plies played after the last improve() are not part of the run
                try:
                    self.pool.collect()
                except Exception:
                    pass
                self.in_flight = False
            self.pool.close()
            self.pool = None


def player_from_state(state: dict[str, Any], simulations: int, name: str = "mcts", device: str = "cpu",
                      **search: Any) -> MctsPlayer:
    """A Player from a learner `state_dict` (e.g. a loaded checkpoint) at any number of simulations."""
    net = PolicyValueNet(**state["net_config"]).to(device)
    net.load_state_dict(state["net"])
    return MctsPlayer(net.eval(), simulations, name=name, device=device, **search)
