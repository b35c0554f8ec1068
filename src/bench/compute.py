"""The compute meter every learner reports to, and FLOP counting: every learner counted in the same units.

One set of counters for every learner, present in every metrics record from evaluation 0 on (issue 14):

- samples: `positions` (positions in which the learner chose a move while learning), `episodes` (games or
  rollouts, the kind in `episode_kind`), `tasks`, `forward_passes` (positions or sequences its network evaluated,
  search simulations included), `tokens` (language models);
- compute: `train_flops`, `infer_flops` (measured), `engine_nodes` (Stockfish nodes searched for the learner while
  it learned: opponents, verifiers, feedback, adjudication; with the new games and engine starts asked for),
  `engine_instructions` and `engine_flops` (from the factors measured by benchmarks/engine_flops.py), `cpu_s`
  (this process, its reaped children and its live descendants: worker processes, Ray's processes, engines),
  `wall_s`, `verifier_calls`, `steps`.

FLOPs of torch models are measured, not guessed: `FlopCounter` runs a FLOP-counting dispatch mode once per
(model, batch shape, pass) on a real batch and reuses the figure for every later batch of that shape; `count_flops`
measures one call (a language model's forward over its actual context). Both use torch's FlopCounterMode formulas
(`torch.utils.flop_counter.flop_registry`: 2 FLOPs per multiply-add) and add scaled-dot-product attention on the
CPU, which torch's registry misses (its CPU kernels `_scaled_dot_product_flash_attention_for_cpu[_backward]` and
inference mode's `scaled_dot_product_attention`): counted with torch's own `sdpa_flop_count` and
`sdpa_backward_flop_count` over the query-key pairs the kernel computes: all of them under an explicit mask (the
kernel runs them all), the causal triangle under `is_causal` (its blocks above the diagonal are skipped).
"""

from __future__ import annotations

import logging
import os
import resource
import time
from collections import defaultdict
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

log = logging.getLogger("bench.compute")

SAMPLE_COUNTERS = ("positions", "episodes", "tasks", "forward_passes", "tokens")
"""The sample counters every metrics record carries (0 when a learner has none)."""
EPISODE_KINDS = ("games", "rollouts")
"""What one episode is: a game (mcts self-play, icl training games) or a rollout (rlvr). `add_samples("games", n)`
counts n episodes of kind games; the record carries the count under `samples.episodes` and under its kind's name."""
EXTRA_SAMPLES = ("simulations",)
"""Counted only by the learners that have them (mcts's search simulations)."""
SAMPLE_KINDS = (*SAMPLE_COUNTERS, *EPISODE_KINDS, *EXTRA_SAMPLES)
BUDGET_UNITS = ("train_flops", "total_flops", "engine_nodes", "wall_s", "steps", *SAMPLE_KINDS)

ENGINE_INSTRUCTIONS_PER_NODE = 10_380.0
"""x86 instructions Stockfish 15.1 (Debian 15.1-4, generic SSE2 build) executes per node searched, all threads and
libraries, per-search overhead included, new games and engine starts apart (below): callgrind, workload minus
baseline minus 6 new games, 234,167 nodes over 78 searches at 1,000 nodes (full strength; 11,350 per node) and
5,000 nodes (UCI_Elo 1350; 10,186 per node).
`python benchmarks/engine_flops.py` (2026-12-01; instruction counts do not depend on the machine's load: three runs
at load averages from about 5 to 25 on 2 cores gave the same counts, the baseline within 100 of 446 M)."""
ENGINE_INSTRUCTIONS_PER_NEW_GAME = 17_920_000.0
"""Instructions of one `ucinewgame` at Hash 16 MB (the hash cleared): about 1,600 nodes' worth, so an engine that
starts a new game for every short search (a verifier passing `game=object()`) costs more than its nodes. Measured
as the difference between 39 searches in 3 games and the same 39 searches each in its own game."""
ENGINE_INSTRUCTIONS_PER_START = 446_260_000.0
"""Instructions of starting an engine process (NNUE loaded, configured, `isready`) and quitting it: the baseline run."""
ENGINE_FLOPS_PER_NODE = 17_514.0
"""Arithmetic operations per node, counted like FLOPs (per lane, a multiply-add is 2) from the executed instruction
mix of the same runs: packed integer add/sub/multiply (`pmaddwd` 12, `paddd` 4, `paddw`/`psubw`/`pmullw` 8, ...)
and floating-point arithmetic. Stockfish's NNUE computes in int8/int16/int32, so these are integer operations of its
network (as FlopCounterMode counts a network's multiply-adds), not floating point; the scalar instructions of the
search are in `ENGINE_INSTRUCTIONS_PER_NODE` only. 18,999 per node at 1,000 nodes, 17,217 at 5,000."""

OUTSIDE_KNOWLEDGE: dict[str, str] = {
    "pretrained model": "a model trained on data beyond the learner's own play (e.g. a pretrained language model)",
    "engine opponent": "training games against Stockfish (its moves are engine knowledge the learner sees)",
    "engine feedback": "Stockfish's verdicts on the learner's moves shown to it (e.g. its worst moves in the prompt)",
    "engine targets": "Stockfish's best moves used as training targets (e.g. icl's supervised LoRA lessons)",
    "engine-judged rewards": "rewards computed from Stockfish's evaluation (rlvr's engine verifiers)",
    "engine adjudication": "games ended by Stockfish's score rather than by the rules",
    "material adjudication": "games ended, or scored, by counting material rather than by the rules",
}
"""The names `learner_info.outside_knowledge` uses: knowledge beyond the rules of chess a learner's learning used."""


def lm_forward_flops(parameters: int, tokens: int) -> float:
    """Forward FLOPs of a decoder LM without attention: 2 x N x tokens (Kaplan et al. 2020, sec. 2.1).
    Only for models whose architecture is unknown (a remote API); `lm_context_flops` includes attention."""
    return 2.0 * parameters * tokens


def lm_context_flops(parameters: int, n_layer: int, d_attn: int, contexts: Iterator[int] | list[int]) -> float:
    """Forward FLOPs of tokens that each attend to `context` earlier tokens (itself included):
    2N + 2 x n_layer x n_ctx x d_attn per token (Kaplan et al. 2020, table 1; N without embeddings)."""
    return float(sum(2.0 * parameters + 2.0 * n_layer * ctx * d_attn for ctx in contexts))


# -- CPU seconds of the process tree ---------------------------------------------------------------------------
_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _proc_table() -> dict[int, tuple[int, float]] | None:
    """pid -> (parent pid, CPU seconds of it and its reaped children) for every process, from /proc; None off Linux."""
    proc = Path("/proc")
    if not (proc / "self" / "stat").exists():
        return None
    table: dict[int, tuple[int, float]] = {}
    for entry in os.scandir(proc):
        if not entry.name.isdigit():
            continue
        try:
            raw = Path(entry.path, "stat").read_bytes()
        except OSError:  # gone meanwhile
            continue
        fields = raw[raw.rindex(b")") + 2:].split()  # after "pid (comm) ": state, ppid, ...
        utime, stime, cutime, cstime = (int(x) for x in fields[11:15])
        table[int(entry.name)] = (int(fields[1]), (utime + stime + cutime + cstime) / _TICK)
    return table


def tree_cpu_s() -> float:
    """CPU seconds of this process (all threads), of its reaped children (RUSAGE_CHILDREN, which holds a child's own
    reaped children once it is reaped) and of every live descendant with its reaped children (/proc): worker
    processes, Ray's raylet and workers, Stockfish engines. A descendant that outlives its parent is re-parented away
    from this tree and its later seconds are not seen."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    total = time.process_time() + children.ru_utime + children.ru_stime
    table = _proc_table()
    if not table:
        return total
    kids: dict[int, list[int]] = defaultdict(list)
    for pid, (ppid, _) in table.items():
        kids[ppid].append(pid)
    stack = list(kids.get(os.getpid(), []))
    while stack:
        pid = stack.pop()
        total += table[pid][1]
        stack.extend(kids.get(pid, []))
    return total


@dataclass
class ComputeMeter:
    """Counts what a learner spends: samples, FLOPs (training and inference apart), engine work, verifier calls, time.

    Wall and CPU seconds accumulate across resumes: `state_dict` stores the totals so far and a resumed meter
    continues from them. CPU seconds are those of the whole process tree (`tree_cpu_s`), evaluation excluded.
    """

    train_flops: float = 0.0
    infer_flops: float = 0.0
    verifier_calls: int = 0
    engine_nodes: int = 0
    engine_new_games: int = 0
    engine_starts: int = 0
    steps: int = 0
    samples: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    episode_kind: str | None = None
    """`games` or `rollouts` once a learner has said which (`set_episode_kind` or its first episodes)."""
    no_episodes: bool = False
    """The learner said it plays no episodes (the random learner)."""
    wall_offset: float = 0.0
    cpu_offset: float = 0.0
    engine_instructions_per_node: float = ENGINE_INSTRUCTIONS_PER_NODE
    engine_flops_per_node: float = ENGINE_FLOPS_PER_NODE
    _wall_start: float = field(default_factory=time.perf_counter)
    _cpu_start: float = field(default_factory=tree_cpu_s)
    _paused_wall: float = 0.0
    _paused_cpu: float = 0.0
    _cpu_seen: float = 0.0

    # -- what learners report -------------------------------------------------------------------------------------
    def add_train_flops(self, flops: float) -> None:
        self.train_flops += float(flops)

    def add_infer_flops(self, flops: float) -> None:
        self.infer_flops += float(flops)

    def add_samples(self, kind: str, count: float = 1) -> None:
        """Count samples: one of `SAMPLE_COUNTERS`, an episode kind (`games`, `rollouts`: counted as episodes of
        that kind) or `simulations`."""
        if kind not in SAMPLE_KINDS:
            raise ValueError(f"unknown sample kind {kind!r}; expected one of {SAMPLE_KINDS}")
        if kind in EPISODE_KINDS:
            self.set_episode_kind(kind)
        elif kind == "episodes":
            if self.episode_kind is None:
                raise ValueError("episodes need a kind: set_episode_kind('games'|'rollouts') or add_samples('games')")
            kind = self.episode_kind
        if kind in EPISODE_KINDS:  # kept under both names: `samples["games"]` reads as before
            self.samples["episodes"] += count
        self.samples[kind] += count

    def set_episode_kind(self, kind: str | None) -> None:
        """Say what one episode is (`games`, `rollouts`), or None for a learner that plays none (random). A learner
        sets it once, in its constructor, so that evaluation 0's record already names it."""
        if kind is None:
            if self.samples.get("episodes"):
                raise ValueError("this meter has counted episodes already")
            self.no_episodes = True
            return
        if kind not in EPISODE_KINDS:
            raise ValueError(f"unknown episode kind {kind!r}; expected one of {EPISODE_KINDS}")
        if self.episode_kind not in (None, kind) or self.no_episodes:
            raise ValueError(f"this learner's episodes are {self.episode_kind or 'none'}; it cannot count {kind}")
        self.episode_kind = kind

    def add_engine_nodes(self, nodes: int, new_games: int = 0, starts: int = 0) -> None:
        """Stockfish work done for the learner while it learned: `nodes` as the engine reported them (`info nodes`,
        `MoveResult.nodes`), `new_games` it was told to start (`ucinewgame`: python-chess sends one whenever the
        `game=` key changes) and engine processes `starts`ed. Nodes make `engine_flops`; all three make
        `engine_instructions`."""
        self.engine_nodes += int(nodes)
        self.engine_new_games += int(new_games)
        self.engine_starts += int(starts)

    def add_verifier_calls(self, count: int = 1) -> None:
        self.verifier_calls += int(count)

    def add_step(self, count: int = 1) -> None:
        """`improve()` calls: the unit of a learner that counts nothing else (the random learner)."""
        self.steps += int(count)

    # -- time -----------------------------------------------------------------------------------------------------
    @property
    def wall_s(self) -> float:
        return self.wall_offset + time.perf_counter() - self._wall_start - self._paused_wall

    @property
    def cpu_s(self) -> float:
        """CPU seconds of the process tree so far (never decreasing: a child reaped between the two readings of
        `tree_cpu_s` cannot take seconds back)."""
        now = self.cpu_offset + tree_cpu_s() - self._cpu_start - self._paused_cpu
        self._cpu_seen = max(self._cpu_seen, now)
        return self._cpu_seen

    def paused(self) -> "_Pause":
        """Context manager: time spent inside (evaluation games, their engines included) is not charged."""
        return _Pause(self)

    # -- reading ----------------------------------------------------------------------------------------------------
    @property
    def engine_instructions(self) -> float:
        return (self.engine_nodes * self.engine_instructions_per_node
                + self.engine_new_games * ENGINE_INSTRUCTIONS_PER_NEW_GAME
                + self.engine_starts * ENGINE_INSTRUCTIONS_PER_START)

    def spent(self, unit: str) -> float:
        """How much of a budget unit has been used so far."""
        if unit == "train_flops":
            return self.train_flops
        if unit == "total_flops":
            return self.train_flops + self.infer_flops
        if unit == "engine_nodes":
            return float(self.engine_nodes)
        if unit == "wall_s":
            return self.wall_s
        if unit == "steps":
            return float(self.steps)
        if unit in EPISODE_KINDS:
            if self.no_episodes:  # the random learner: a budget in games counts its improve() steps
                return float(self.steps)
            if self.episode_kind not in (None, unit):
                raise ValueError(f"budget.unit={unit}, but this learner's episodes are {self.episode_kind}")
            return float(self.samples.get(unit, 0.0))
        if unit in SAMPLE_KINDS:
            return float(self.samples.get(unit, 0.0))
        raise ValueError(f"unknown budget unit {unit!r}; expected one of {BUDGET_UNITS}")

    def snapshot(self) -> dict[str, Any]:
        """The `compute` and `samples` blocks of a metrics record, and `episode_kind`; every counter is present."""
        samples = {kind: self.samples.get(kind, 0.0) for kind in SAMPLE_COUNTERS}
        if self.episode_kind is not None:
            samples[self.episode_kind] = self.samples.get(self.episode_kind, 0.0)
        samples.update({kind: self.samples[kind] for kind in EXTRA_SAMPLES if kind in self.samples})
        return {
            "compute": {
                "train_flops": self.train_flops,
                "infer_flops": self.infer_flops,
                "engine_nodes": self.engine_nodes,
                "engine_new_games": self.engine_new_games,
                "engine_starts": self.engine_starts,
                "engine_instructions": self.engine_instructions,
                "engine_flops": self.engine_nodes * self.engine_flops_per_node,
                "wall_s": round(self.wall_s, 3),
                "cpu_s": round(self.cpu_s, 3),
                "verifier_calls": self.verifier_calls,
                "steps": self.steps,
            },
            "samples": samples,
            "episode_kind": self.episode_kind,
        }

    def state_dict(self) -> dict[str, Any]:
        return {
            "train_flops": self.train_flops,
            "infer_flops": self.infer_flops,
            "verifier_calls": self.verifier_calls,
            "engine_nodes": self.engine_nodes,
            "engine_new_games": self.engine_new_games,
            "engine_starts": self.engine_starts,
            "steps": self.steps,
            "samples": dict(self.samples),
            "episode_kind": self.episode_kind,
            "no_episodes": self.no_episodes,
            "wall_s": self.wall_s,
            "cpu_s": self.cpu_s,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Load a `state_dict`, also one written before issue 14 (samples by kind `games`/`rollouts`, no engine
        nodes, CPU seconds of the main process only)."""
        self.train_flops = float(state["train_flops"])
        self.infer_flops = float(state["infer_flops"])
        self.verifier_calls = int(state["verifier_calls"])
        self.engine_nodes = int(state.get("engine_nodes", 0))
        self.engine_new_games = int(state.get("engine_new_games", 0))
        self.engine_starts = int(state.get("engine_starts", 0))
        self.steps = int(state.get("steps", 0))
        samples = dict(state["samples"])
        kind = state.get("episode_kind")
        counted = [k for k in EPISODE_KINDS if samples.get(k)]
        if len(counted) > 1:
            raise ValueError(f"the checkpoint counts episodes of two kinds: {counted}")
        if counted and kind is None:  # written before issue 14: episodes only under their kind's name
            kind = counted[0]
            samples["episodes"] = samples[kind]
        self.no_episodes = bool(state.get("no_episodes", self.no_episodes))
        if self.no_episodes and counted and "steps" not in state:  # an old random learner's "games" were steps
            self.steps = int(samples.pop(counted[0]))
            samples.pop("episodes", None)
            kind = None
        self.samples = defaultdict(float, samples)
        self.episode_kind = kind if kind is not None else self.episode_kind
        self.wall_offset, self.cpu_offset = float(state["wall_s"]), float(state["cpu_s"])
        self._wall_start, self._cpu_start = time.perf_counter(), tree_cpu_s()
        self._paused_wall = self._paused_cpu = self._cpu_seen = 0.0


class _Pause:
    def __init__(self, meter: ComputeMeter) -> None:
        self.meter = meter

    def __enter__(self) -> None:
        self.wall, self.cpu = time.perf_counter(), tree_cpu_s()

    def __exit__(self, *exc: object) -> None:
        self.meter._paused_wall += time.perf_counter() - self.wall
        self.meter._paused_cpu += max(0.0, tree_cpu_s() - self.cpu)


# -- measured FLOPs ----------------------------------------------------------------------------------------------
@dataclass
class MeasuredFlops:
    """The FLOPs of what ran inside `count_flops()`; `total` is final once the block has ended."""

    total: float = 0.0


def _causal_share(s_q: int, s_k: int, is_causal: Any) -> float:
    """Share of the query-key pairs a causal kernel computes (torch's is_causal: query i sees keys 0..i); 1 else."""
    if not is_causal or s_q == 0 or s_k == 0:
        return 1.0
    pairs = sum(min(i + 1, s_k) for i in range(s_q))
    return pairs / (s_q * s_k)


def _sdpa_forward(query: Any, key: Any, value: Any, *args: Any, is_causal: bool = False, **kwargs: Any) -> int:
    """aten.scaled_dot_product_attention (is_causal 6th) and its CPU kernel (is_causal 5th)."""
    from torch.utils.flop_counter import sdpa_flop_count

    causal = is_causal or (len(args) >= 3 and isinstance(args[2], bool) and args[2]) or \
        (len(args) >= 2 and isinstance(args[1], bool) and args[1])
    share = _causal_share(int(query.shape[-2]), int(key.shape[-2]), causal)
    return int(share * sdpa_flop_count(tuple(query.shape), tuple(key.shape), tuple(value.shape)))


def _sdpa_backward(grad_out: Any, query: Any, key: Any, value: Any, *args: Any, is_causal: bool = False,
                   **kwargs: Any) -> int:
    """aten._scaled_dot_product_flash_attention_for_cpu_backward: (grad_out, q, k, v, out, logsumexp, dropout_p,
    is_causal, ...)."""
    from torch.utils.flop_counter import sdpa_backward_flop_count

    causal = is_causal or (len(args) >= 4 and isinstance(args[3], bool) and args[3])
    share = _causal_share(int(query.shape[-2]), int(key.shape[-2]), causal)
    return int(share * sdpa_backward_flop_count(tuple(grad_out.shape), tuple(query.shape), tuple(key.shape),
                                                tuple(value.shape)))


_MODE: Any = None


def _flop_mode() -> Any:
    """A new FLOP-counting dispatch mode: FlopCounterMode's formulas and decomposition, plus CPU attention, without
    its module tracker (whose global module hooks would see other threads' forwards), so concurrent players each
    measure their own calls (dispatch modes are thread-local)."""
    global _MODE
    if _MODE is None:
        import torch
        from torch.utils._python_dispatch import TorchDispatchMode
        from torch.utils.flop_counter import flop_registry

        aten = torch.ops.aten
        formulas: dict[Any, Callable[..., int]] = {
            **flop_registry,
            aten.scaled_dot_product_attention: _sdpa_forward,
            aten._scaled_dot_product_flash_attention_for_cpu: _sdpa_forward,
            aten._scaled_dot_product_flash_attention_for_cpu_backward: _sdpa_backward,
        }

        atomic: set[Any] = {torch.ops.prim.device.default}  # operations without a decomposition, learned as seen

        class FlopMode(TorchDispatchMode):
            def __init__(self) -> None:
                super().__init__()
                self.flops = 0

            def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
                kwargs = kwargs or {}
                formula = formulas.get(func._overloadpacket)
                if formula is None:
                    if func in atomic:
                        return func(*args, **kwargs)
                    with self:  # as FlopCounterMode: count the operations a composite operation is made of
                        out = func.decompose(*args, **kwargs)
                    if out is not NotImplemented:
                        return out
                    atomic.add(func)
                    return func(*args, **kwargs)
                out = func(*args, **kwargs)
                self.flops += int(formula(*args, **kwargs, out_val=out))
                return out

        _MODE = FlopMode
    return _MODE()


@contextmanager
def count_flops() -> Iterator[MeasuredFlops]:
    """Measure the FLOPs of the torch operations this thread runs inside the block (forward and backward)."""
    measured = MeasuredFlops()
    mode = _flop_mode()
    try:
        with mode:
            yield measured
    finally:
        measured.total = float(mode.flops)


class FlopCounter:
    """Measured FLOPs per call, cached by key (e.g. the batch shape).

    `count(key, run)` runs `run()` under `count_flops()` the first time a key is seen and returns the measured
    total; later calls with the same key return the cached figure without running anything.
    """

    def __init__(self) -> None:
        self._cache: dict[Any, float] = {}

    def count(self, key: Any, run: Callable[[], Any]) -> float:
        if key not in self._cache:
            with count_flops() as measured:
                run()
            self._cache[key] = measured.total
        return self._cache[key]

    def known(self, key: Any) -> float | None:
        return self._cache.get(key)


def forward_flops(counter: FlopCounter, model: Any, batch: Any, tag: str = "forward") -> float:
    """FLOPs of one forward pass of `model` on `batch` (a tensor), measured once per shape."""
    import torch

    def run() -> None:
        with torch.no_grad():
            model(batch)

    return counter.count((tag, id(model), tuple(batch.shape)), run)


def per_position_flops(counter: FlopCounter, model: Any, example: Any, tag: str = "forward") -> float:
    """FLOPs per position of a forward pass, measured on a real batch `example` and divided by its size."""
    return forward_flops(counter, model, example, tag) / max(1, int(example.shape[0]))


__all__ = [
    "BUDGET_UNITS",
    "ENGINE_FLOPS_PER_NODE",
    "ENGINE_INSTRUCTIONS_PER_NEW_GAME",
    "ENGINE_INSTRUCTIONS_PER_NODE",
    "ENGINE_INSTRUCTIONS_PER_START",
    "EPISODE_KINDS",
    "OUTSIDE_KNOWLEDGE",
    "SAMPLE_COUNTERS",
    "SAMPLE_KINDS",
    "ComputeMeter",
    "FlopCounter",
    "MeasuredFlops",
    "count_flops",
    "forward_flops",
    "lm_context_flops",
    "lm_forward_flops",
    "per_position_flops",
    "tree_cpu_s",
]
