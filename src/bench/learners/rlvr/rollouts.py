"""Rollouts: many tasks x G rollouts stepped in lockstep, so every learner move goes through the network in one batch.

Opponents are ladder rungs built with `bench.players` (the random mover, Stockfish with its settings), one
engine process per worker, kept open across steps and driven in parallel by threads.
"""

from __future__ import annotations

import threading
from collections import Counter, deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import chess
import numpy as np
import torch

from bench.encoding import COMPACT_WORDS, compact_boards, expand_compact, legal_moves, legal_moves_and_indices
from bench.errors import BenchError
from bench.learners.rlvr.tasks import Task
from bench.learners.rlvr.verifiers import Finished, Verifiers, stops_after_last_move
from bench.players import EngineSettings, MoveResult, Player, RandomPlayer, StockfishPlayer


class FastRandomPlayer(RandomPlayer):
    """The random rung with the shared fast legal-move generator: uniform over the same legal moves as
    `RandomPlayer` (python-chess lists them 2-3x slower), so rollouts against it spend less time per ply."""

    def play(self, board: chess.Board) -> MoveResult:
        return MoveResult(move=self.rng.choice(legal_moves(board)))


class Opponents:
    """The rungs a task may name, each built lazily as `workers` players (one engine process per worker)."""

    def __init__(self, rungs: Sequence[Any], workers: int, stockfish: Any, seed: int) -> None:
        self.rungs = {str(r.name): r for r in rungs}
        self.order = [str(r.name) for r in rungs]
        self.workers, self.stockfish, self.seed = max(1, workers), stockfish, seed
        self.players: dict[str, list[Player]] = {}
        self._executor: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()
        self.nodes = 0
        """Stockfish nodes the opponents searched for their replies, as the engine reported them."""
        self.starts = 0
        """Stockfish processes started (one per worker of each engine rung played); each plays one long game, so one
        `ucinewgame` per start."""

    def resolve(self, name: str) -> str:
        """The rung a task's `opponent` refers to: a rung name, `#i` (i-th rung), or `random`."""
        if name in self.rungs:
            return name
        if name.startswith("#") and name[1:].isdigit() and int(name[1:]) < len(self.order):
            return self.order[int(name[1:])]
        if name == "random":
            return name
        raise BenchError(f"task opponent {name!r} is not a ladder rung; choose one of {self.order} or random or #i")

    def _build(self, name: str) -> list[Player]:
        rung = self.rungs.get(name)
        if rung is None or str(rung.kind) == "random":
            return [FastRandomPlayer(name=name, seed=self.seed + 7919)]
        settings = EngineSettings(
            nodes=rung.nodes, depth=rung.depth, movetime=rung.movetime, skill_level=rung.skill_level,
            uci_elo=rung.uci_elo, epsilon=float(rung.epsilon),
        )
        sf = self.stockfish
        players: list[Player] = []
        for w in range(self.workers):
            player = StockfishPlayer(
                name, settings, getattr(sf, "path", None), threads=1, hash_mb=int(getattr(sf, "hash_mb", 16)),
                move_timeout=float(getattr(sf, "move_timeout", 30.0)),
            )
            player.new_game(self.seed * 1000 + w)
            players.append(player)
            self.starts += 1
        return players

    def moves(self, name: str, boards: Sequence[chess.Board]) -> list[chess.Move]:
        """Replies of rung `name` in each board; Stockfish replies are spread over its worker processes."""
        with self._lock:
            if name not in self.players:
                self.players[name] = self._build(name)
        players = self.players[name]
        if len(players) == 1 or len(boards) <= 1:
            results = [players[0].play(b) for b in boards]
            self.nodes += sum(r.nodes for r in results)
            return [r.move for r in results]
        if self._executor is None:
            self._executor = ThreadPoolExecutor(self.workers, thread_name_prefix="rlvr-opponent")
        shards = [list(range(w, len(boards), len(players))) for w in range(len(players))]

        def run(w: int) -> list[MoveResult]:
            return [players[w].play(boards[i]) for i in shards[w]]

        out: list[chess.Move | None] = [None] * len(boards)
        for w, results in enumerate(self._executor.map(run, range(len(players)))):
            for i, result in zip(shards[w], results):
                out[i] = result.move
            self.nodes += sum(r.nodes for r in results)
        return [m for m in out if m is not None]  # every slot is filled by its shard

    def state_dict(self) -> dict[str, Any]:
        """The random generators of the players built so far (random moves, epsilon-mixing), for exact resumes."""
        return {name: [p.rng.getstate() for p in players if hasattr(p, "rng")] for name, players in self.players.items()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for name, states in state.items():
            with self._lock:
                if name not in self.players:
                    self.players[name] = self._build(name)
            for player, rng_state in zip((p for p in self.players[name] if hasattr(p, "rng")), states):
                player.rng.setstate(rng_state)

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None
        for players in self.players.values():
            for player in players:
                player.close()
        self.players = {}


def engine_work(opponents: Opponents, verifiers: Verifiers) -> tuple[int, int, int]:
    """(nodes, new games, starts) of the opponents' and the verifiers' Stockfish engines so far: subtract two
    readings for the work between them (`ComputeMeter.add_engine_nodes`)."""
    return (opponents.nodes + verifiers.nodes, opponents.starts + verifiers.new_games,
            opponents.starts + verifiers.engines.starts)


@dataclass
class RolloutBatch:
    """What a GRPO step trains on: every learner move of every rollout, and each rollout's reward."""

    compact: np.ndarray
    """[M, 14] uint64 compact boards of the positions where the learner moved."""
    legal: list[np.ndarray]
    """Per move: the legal move indices of that position."""
    actions: np.ndarray
    """[M] int64 chosen policy indices."""
    logp_old: np.ndarray
    """[M] float32 log-probs of the chosen moves under the sampling policy."""
    rollout_index: np.ndarray
    """[M] int64 which rollout each move belongs to (rollout r belongs to task r // G)."""
    rewards: np.ndarray
    """[T, G] float32 verifier rewards."""
    plies: int = 0
    """All plies played (learner and opponent)."""
    verifier_calls: int = 0
    forward_flops: float = 0.0
    final_fens: list[str] = field(default_factory=list)
    verifier_engines_replaced: int = 0
    """Verifier engine processes that died or hung while scoring this batch and were replaced."""
    workers_replaced: int = 0
    """Rollout workers (`runtime=ray` actors) that died during this batch and were replaced."""
    engine_nodes: int = 0
    """Stockfish nodes searched for this batch: opponents' replies and verifier analyses."""
    engine_new_games: int = 0
    """`ucinewgame`s sent for this batch (one per verifier analysis, one per opponent engine's first game)."""
    engine_starts: int = 0
    """Stockfish processes started for this batch (opponents built lazily, verifier engines opened or replaced)."""


@dataclass
class _Rollout:
    task_index: int
    board: chess.Board
    learner: chess.Color
    moves: int = 0
    done: bool = False
    seen: Counter = field(default_factory=Counter)
    """Transposition keys of the positions so far: repetitions without walking the move stack."""
    legal: tuple[list[chess.Move], np.ndarray] | None = None
    """The legal moves (and policy indices) of the current position when the learner is to move."""

    def pushed(self) -> int:
        """Record the new position; returns how often it occurred before."""
        key = self.board._transposition_key()
        self.seen[key] += 1
        return self.seen[key] - 1

    def over(self, repeated: int, learner_to_move: bool) -> bool:
        """The game is over by the evaluation's rules (`games._rules_outcome`: threefold repetition and fifty moves
        draw at once), generating legal moves once."""
        board = self.board
        if learner_to_move:
            self.legal = legal_moves_and_indices(board)
            no_moves = not self.legal[0]
        else:
            no_moves = not any(board.generate_legal_moves())
        return no_moves or repeated >= 2 or board.halfmove_clock >= 100 or board.is_insufficient_material()


def sample_legal(
    logits: torch.Tensor, legal: Sequence[np.ndarray], temperature: float, generator: torch.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Sample one legal move index per row from softmax(logits / T) over that row's legal indices only.

    Works on a padded [N, max legal] gather instead of the full 4,672-wide rows (50x fewer elements), and samples
    by inverting the cumulative distribution. Returns (policy indices, their log-probabilities).
    """
    n, width = len(legal), max(len(x) for x in legal)
    index = np.zeros((n, width), dtype=np.int64)
    valid = np.zeros((n, width), dtype=bool)
    for row, idx in enumerate(legal):
        index[row, : len(idx)] = idx
        valid[row, : len(idx)] = True
    index_t, valid_t = torch.from_numpy(index), torch.from_numpy(valid)
    sub = logits.gather(1, index_t) / max(temperature, 1e-6)
    logp = torch.log_softmax(sub.masked_fill(~valid_t, float("-inf")), dim=1)
    cdf = logp.exp().cumsum(1)
    u = torch.rand(n, 1, generator=generator) * cdf[:, -1:]
    pick = torch.searchsorted(cdf, u, right=True).clamp_(max=width - 1)
    pick = torch.minimum(pick, torch.from_numpy(valid.sum(1) - 1)[:, None])  # float round-off at the top end
    chosen = logp.gather(1, pick).squeeze(1)
    return index_t.gather(1, pick).squeeze(1).numpy(), chosen.numpy()


class RolloutEngine:
    """Runs tasks x G rollouts of a policy network in lockstep; learner moves are batched through the net.

    The rollouts are split into two halves stepped alternately: while the network evaluates one half's batch on a
    worker thread (torch releases the GIL), this thread does the other half's chess work (moves, replies, legal
    moves, encoding), so Python's move generation hides behind the forward passes. The order of all random draws
    is fixed, so a seed gives the same rollouts.
    """

    def __init__(
        self,
        net: torch.nn.Module,
        opponents: Opponents,
        verifiers: Verifiers,
        params_of: Callable[[Task], Any],
        flops_of: Callable[[int, Callable[[], Any]], float],
        device: str = "cpu",
        pipeline_min: int = 16,
    ) -> None:
        self.net, self.opponents, self.verifiers = net, opponents, verifiers
        self.params_of, self.flops_of, self.device = params_of, flops_of, device
        self.pipeline_min = pipeline_min
        self._executor: ThreadPoolExecutor | None = None

    @torch.no_grad()
    def _forward(self, planes: np.ndarray) -> tuple[torch.Tensor, float]:
        x = torch.from_numpy(planes).to(self.device)
        out: dict[str, torch.Tensor] = {}

        def run() -> None:
            out["logits"] = self.net(x)[0].float().cpu()

        flops = self.flops_of(len(planes), run)
        return out["logits"], flops

    def _half(self, tasks: Sequence[Task], rollouts: Sequence[_Rollout], order: Sequence[int], names: dict[int, str],
              temperature: float, generator: torch.Generator, record: dict[str, list]) -> Any:
        """Lockstep loop over some rollouts: yields planes to evaluate, receives (logits, FLOPs) back."""
        repeats = {i: 0 for i in order}
        while True:
            active = [i for i in order if not rollouts[i].done]
            if not active:
                return
            compact = compact_boards([rollouts[i].board for i in active], [repeats[i] for i in active])
            logits, flops = yield expand_compact(compact)
            legal = [rollouts[i].legal for i in active]
            legal_idx = [idx for _, idx in legal]  # type: ignore[misc]
            actions, chosen = sample_legal(logits, legal_idx, temperature, generator)
            record["compact"].append(compact)
            record["legal"].extend(legal_idx)
            record["actions"].append(actions)
            record["logp"].append(chosen)
            record["owner"].extend(active)
            record["flops"].append(flops)
            replying: dict[str, list[int]] = {}
            for i, (ms, idx), action in zip(active, legal, actions):  # type: ignore[misc]
                r = rollouts[i]
                r.board.push(ms[int(np.flatnonzero(idx == action)[0])])
                r.moves += 1
                record["plies"].append(1)
                task = tasks[r.task_index]
                last = r.moves >= task.horizon
                if (last and stops_after_last_move(task.verifier)) or r.over(r.pushed(), learner_to_move=False):
                    r.done = True
                else:
                    replying.setdefault(names[r.task_index], []).append(i)
            for name, idx in replying.items():
                replies = self.opponents.moves(name, [rollouts[i].board for i in idx])
                for i, move in zip(idx, replies):
                    r = rollouts[i]
                    r.board.push(move)
                    record["plies"].append(1)
                    repeats[i] = r.pushed()
                    if r.moves >= tasks[r.task_index].horizon or r.over(repeats[i], learner_to_move=True):
                        r.done = True

    def _drive(self, halves: list[Any]) -> None:
        """Alternate the halves: one half's chess work runs while the other half's forward pass is in flight."""
        if len(halves) == 1:
            half, value = halves[0], None
            while True:
                try:
                    planes = half.send(value)
                except StopIteration:
                    return
                value = self._forward(planes)
        if self._executor is None:
            self._executor = ThreadPoolExecutor(1, thread_name_prefix="rlvr-forward")
        ready: deque[tuple[Any, Any]] = deque((h, None) for h in halves)
        inflight: tuple[Any, Future] | None = None
        while ready or inflight:
            if ready:
                half, value = ready.popleft()
                try:
                    planes = half.send(value)  # chess work, overlapping the forward in flight
                except StopIteration:
                    planes = None
                if inflight is not None:
                    other, future = inflight
                    inflight = None
                    ready.append((other, future.result()))
                if planes is not None:
                    inflight = (half, self._executor.submit(self._forward, planes))
            else:
                assert inflight is not None
                other, future = inflight
                inflight = None
                ready.append((other, future.result()))

    def run(self, tasks: Sequence[Task], group: int, temperature: float, generator: torch.Generator) -> RolloutBatch:
        engine_before = engine_work(self.opponents, self.verifiers)
        rollouts: list[_Rollout] = []
        for t, task in enumerate(tasks):
            for _ in range(group):
                r = _Rollout(t, chess.Board(task.fen), chess.Board(task.fen).turn)
                r.pushed()
                r.done = r.over(0, learner_to_move=True)  # a file task may start finished: nothing to play
                rollouts.append(r)
        names = {t: self.opponents.resolve(task.opponent) for t, task in enumerate(tasks)}
        everyone = list(range(len(rollouts)))
        parts = [everyone[0::2], everyone[1::2]] if len(rollouts) >= self.pipeline_min else [everyone]
        records = [{k: [] for k in ("compact", "legal", "actions", "logp", "owner", "flops", "plies")} for _ in parts]
        self._drive([self._half(tasks, rollouts, part, names, temperature, generator, rec)
                     for part, rec in zip(parts, records)])
        finished = [
            Finished(tasks[r.task_index], self.params_of(tasks[r.task_index]), tasks[r.task_index].board(), r.board,
                     r.learner, r.moves)
            for r in rollouts
        ]
        restarts = self.verifiers.engines.restarts
        rewards, calls = self.verifiers.score(finished)
        work = [after - start for after, start in zip(engine_work(self.opponents, self.verifiers), engine_before)]
        merged = {k: [x for rec in records for x in rec[k]] for k in records[0]}
        return RolloutBatch(
            compact=np.concatenate(merged["compact"]) if merged["compact"] else np.zeros((0, COMPACT_WORDS), np.uint64),
            legal=merged["legal"],
            actions=np.concatenate(merged["actions"]).astype(np.int64) if merged["actions"] else np.zeros(0, np.int64),
            logp_old=np.concatenate(merged["logp"]).astype(np.float32) if merged["logp"] else np.zeros(0, np.float32),
            rollout_index=np.asarray(merged["owner"], dtype=np.int64),
            rewards=np.asarray(rewards, dtype=np.float32).reshape(len(tasks), group),
            plies=len(merged["plies"]),
            verifier_calls=calls,
            forward_flops=float(sum(merged["flops"])),
            final_fens=[r.board.fen() for r in rollouts],
            verifier_engines_replaced=self.verifiers.engines.restarts - restarts,
            engine_nodes=work[0], engine_new_games=work[1], engine_starts=work[2],
        )

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None
