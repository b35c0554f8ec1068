"""Self-play workers and the pools that run them: in this process, in local processes, or as Ray actors.

One `SelfPlayWorker` class does the work in all three; a pool only decides where it lives. Every pool has the
same calls, `set_weights(weights, generation)`, `submit(plies)` then `collect() -> list[result]` (so the
trainer can work while the workers play) and `play(plies)` for both at once, and returns the same results, so `runtime=local` and `runtime=ray` give the same kind of run (and the same numbers for the same
seed). Workers are seeded from (seed, worker index, generation at start), never from the process.
"""

from __future__ import annotations

import multiprocessing as mp
import traceback
from types import SimpleNamespace
from typing import Any, Callable

import numpy as np
import torch

from bench.errors import BenchError
from bench.learners.mcts.evaluator import NetworkEvaluator
from bench.learners.mcts.selfplay import SelfPlay
from bench.network import PolicyValueNet



def build_network(cfg: Any) -> PolicyValueNet:
    """The learner's network as its config describes it (the trainer's and every self-play worker's)."""
    return PolicyValueNet(cfg.blocks, cfg.channels, cfg.value_head, value_pool=cfg.value_pool,
                          policy_head=cfg.policy_head, policy_dim=cfg.policy_dim)


class SelfPlayWorker:
    """Holds a copy of the network and `games_per_worker` lockstep games."""

    def __init__(self, cfg: dict[str, Any], seed: int, index: int, generation: int = 0, device: str = "cpu",
                 torch_threads: int = 0) -> None:
        if torch_threads > 0:
            torch.set_num_threads(torch_threads)
        self.cfg = SimpleNamespace(**cfg)
        self.index = index
        self.generation = generation
        torch.manual_seed(seed * 1000 + index)
        self.net = build_network(self.cfg).to(device).eval()
        self.evaluator = NetworkEvaluator(self.net, device)
        self.selfplay = SelfPlay(self.evaluator, self.cfg, np.random.default_rng([seed, index, generation]))

    def set_weights(self, weights: dict[str, torch.Tensor], generation: int) -> None:
        self.net.load_state_dict(weights)
        self.net.eval()
        self.generation = generation

    def play(self, plies: int) -> dict[str, Any]:
        flops, positions = self.evaluator.flops, self.evaluator.positions
        out = self.selfplay.play(plies)
        out["infer_flops"] = self.evaluator.flops - flops
        out["evaluated"] = self.evaluator.positions - positions
        out["worker"] = self.index
        return out


class InProcessPool:
    """Workers as plain objects in this process (debugging and tests)."""

    def __init__(self, cfg: dict[str, Any], seed: int, workers: int, generation: int, device: str) -> None:
        self.workers = [SelfPlayWorker(cfg, seed, i, generation, device) for i in range(workers)]
        self.submitted: int | None = None

    def set_weights(self, weights: dict[str, torch.Tensor], generation: int) -> None:
        for w in self.workers:
            w.set_weights(weights, generation)

    def submit(self, plies: int) -> None:
        self.submitted = plies  # played at `collect`: in one process nothing runs beside the trainer anyway

    def collect(self) -> list[dict[str, Any]]:
        plies, self.submitted = self.submitted, None
        return [w.play(plies) for w in self.workers]

    def play(self, plies: int) -> list[dict[str, Any]]:
        self.submit(plies)
        return self.collect()

    def close(self) -> None:
        self.workers = []


def _serve(conn: Any, args: tuple) -> None:
    """A local worker process: build the worker, then answer (method, args) messages until `close`."""
    try:
        worker = SelfPlayWorker(*args)
        conn.send(("ok", None))
    except BaseException:
        conn.send(("error", traceback.format_exc()))
        return
    while True:
        try:
            method, call_args = conn.recv()
        except EOFError:
            return
        if method == "close":
            conn.send(("ok", None))
            return
        try:
            conn.send(("ok", getattr(worker, method)(*call_args)))
        except BaseException:
            conn.send(("error", traceback.format_exc()))


class LocalPool:
    """One spawned process per worker, spoken to over pipes; calls go to all workers at once."""

    def __init__(self, cfg: dict[str, Any], seed: int, workers: int, generation: int, device: str,
                 torch_threads: int = 1) -> None:
        ctx = mp.get_context("spawn")
        self.conns, self.procs = [], []
        for i in range(workers):
            parent, child = ctx.Pipe()
            proc = ctx.Process(target=_serve, args=(child, (cfg, seed, i, generation, device, torch_threads)),
                               daemon=True, name=f"mcts-selfplay-{i}")
            proc.start()
            self.conns.append(parent)
            self.procs.append(proc)
        self._gather()

    def _gather(self) -> list[Any]:
        out = []
        for conn in self.conns:
            try:
                status, value = conn.recv()
            except EOFError as exc:
                raise BenchError("an mcts self-play worker process died; see its traceback above") from exc
            if status == "error":
                raise BenchError(f"mcts self-play worker failed:\n{value}")
            out.append(value)
        return out

    def _call(self, method: str, *args: Any) -> list[Any]:
        for conn in self.conns:
            conn.send((method, args))
        return self._gather()

    def set_weights(self, weights: dict[str, torch.Tensor], generation: int) -> None:
        self._call("set_weights", weights, generation)

    def submit(self, plies: int) -> None:
        for conn in self.conns:
            conn.send(("play", (plies,)))

    def collect(self) -> list[dict[str, Any]]:
        return self._gather()

    def play(self, plies: int) -> list[dict[str, Any]]:
        return self._call("play", plies)

    def close(self) -> None:
        for conn, proc in zip(self.conns, self.procs):
            try:
                conn.send(("close", ()))
                conn.recv()
            except (OSError, EOFError, BrokenPipeError):
                pass
            proc.join(timeout=10)
            if proc.is_alive():
                proc.terminate()
        self.conns, self.procs = [], []


class RayPool:
    """The same workers as Ray actors (one CPU each); starts a local Ray cluster unless `address` is given.

    A worker that dies (node lost, actor killed) is replaced by a fresh one built the same way, given the newest
    weights and the same plies; its lockstep games start afresh (games in flight on the dead actor are lost, so
    nothing from them reaches the replay). At most `MAX_REPLACEMENTS` per worker and call, then a BenchError.
    """

    MAX_REPLACEMENTS = 3

    def __init__(self, cfg: dict[str, Any], seed: int, workers: int, generation: int, device: str,
                 address: str | None = None, torch_threads: int = 1) -> None:
        try:
            import ray
        except ModuleNotFoundError as exc:
            raise BenchError("runtime=ray needs Ray: pip install 'bench[ray]' (ray==2.60.0)") from exc
        self.ray = ray
        self.lost = ray.exceptions.RayActorError  # ActorDiedError and ActorUnavailableError are its subclasses
        self.started = False
        if not ray.is_initialized():
            if address:
                ray.init(address=address, include_dashboard=False, log_to_driver=False)
            else:
                ray.init(num_cpus=max(workers, 1), include_dashboard=False, log_to_driver=False)
            self.started = True
        self.actor_class = ray.remote(num_cpus=1)(SelfPlayWorker)
        self.args = (cfg, seed, generation, device, torch_threads)
        self.actors = [self._start(i, generation) for i in range(workers)]
        self.futures: list[Any] = []
        self.plies = 0
        self.weights: tuple[Any, int] | None = None
        self.replaced = 0
        """Workers replaced after dying, over the pool's life."""

    def _start(self, index: int, generation: int) -> Any:
        cfg, seed, _, device, torch_threads = self.args
        return self.actor_class.remote(cfg, seed, index, generation, device, torch_threads)

    def _replace(self, index: int) -> None:
        try:
            self.ray.kill(self.actors[index], no_restart=True)
        except Exception:  # already gone
            pass
        generation = self.weights[1] if self.weights else self.args[2]
        self.actors[index] = self._start(index, generation)
        if self.weights is not None:
            self.ray.get(self.actors[index].set_weights.remote(*self.weights))
        self.replaced += 1

    def _get(self, index: int, future: Any, resend: Callable[[], Any]) -> Any:
        """The result of worker `index`'s call; a dead worker is replaced and the call sent again."""
        for attempt in range(self.MAX_REPLACEMENTS + 1):
            try:
                return self.ray.get(future)
            except self.lost as exc:
                if attempt == self.MAX_REPLACEMENTS:
                    raise BenchError(f"mcts Ray worker {index} died {attempt + 1} times in a row: {exc}") from exc
                self._replace(index)
                future = resend()
        raise AssertionError("unreachable")

    def set_weights(self, weights: dict[str, torch.Tensor], generation: int) -> None:
        self.weights = (self.ray.put(weights), generation)
        futures = [a.set_weights.remote(*self.weights) for a in self.actors]
        for i, future in enumerate(futures):
            self._get(i, future, lambda i=i: self.actors[i].set_weights.remote(*self.weights))

    def submit(self, plies: int) -> None:
        self.plies = plies
        self.futures = [a.play.remote(plies) for a in self.actors]

    def collect(self) -> list[dict[str, Any]]:
        futures, self.futures = self.futures, []
        return [self._get(i, future, lambda i=i: self.actors[i].play.remote(self.plies))
                for i, future in enumerate(futures)]

    def play(self, plies: int) -> list[dict[str, Any]]:
        self.submit(plies)
        return self.collect()

    def close(self) -> None:
        for a in self.actors:
            self.ray.kill(a)
        self.actors = []
        if self.started:
            self.ray.shutdown()
            self.started = False
