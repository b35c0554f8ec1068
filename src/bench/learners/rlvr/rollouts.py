"""Rollouts: many tasks x G rollouts stepped in lockstep, so every learner move goes through the network in one batch.

Opponents are ladder rungs built with `bench.players` (the random mover, Stockfish with its settings), one
engine process per worker, kept open across steps and driven in parallel by threads.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import chess
import numpy as np
import torch

from bench.encoding import COMPACT_WORDS, compact_boards, expand_compact, legal_moves_and_indices
from bench.errors import BenchError
from bench.learners.rlvr.tasks import Task
from bench.learners.rlvr.verifiers import Finished, Verifiers, stops_after_last_move
from bench.network import NUM_MOVES, masked_log_softmax
from bench.players import EngineSettings, Player, RandomPlayer, StockfishPlayer


class Opponents:
    """The rungs a task may name, each built lazily as `workers` players (one engine process per worker)."""

    def __init__(self, rungs: Sequence[Any], workers: int, stockfish: Any, seed: int) -> None:
        self.rungs = {str(r.name): r for r in rungs}
        self.order = [str(r.name) for r in rungs]
        self.workers, self.stockfish, self.seed = max(1, workers), stockfish, seed
        self.players: dict[str, list[Player]] = {}
        self._executor: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()

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
            return [RandomPlayer(name=name, seed=self.seed + 7919)]
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
        return players

    def moves(self, name: str, boards: Sequence[chess.Board]) -> list[chess.Move]:
        """Replies of rung `name` in each board; Stockfish replies are spread over its worker processes."""
        with self._lock:
            if name not in self.players:
                self.players[name] = self._build(name)
        players = self.players[name]
        if len(players) == 1 or len(boards) <= 1:
            return [players[0].play(b).move for b in boards]
        if self._executor is None:
            self._executor = ThreadPoolExecutor(self.workers, thread_name_prefix="rlvr-opponent")
        shards = [list(range(w, len(boards), len(players))) for w in range(len(players))]

        def run(w: int) -> list[chess.Move]:
            return [players[w].play(boards[i]).move for i in shards[w]]

        out: list[chess.Move | None] = [None] * len(boards)
        for w, moves in enumerate(self._executor.map(run, range(len(players)))):
            for i, move in zip(shards[w], moves):
                out[i] = move
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


@dataclass
class _Rollout:
    task_index: int
    board: chess.Board
    learner: chess.Color
    moves: int = 0
    done: bool = False


class RolloutEngine:
    """Runs tasks x G rollouts of a policy network in lockstep; learner moves are batched through the net."""

    def __init__(
        self,
        net: torch.nn.Module,
        opponents: Opponents,
        verifiers: Verifiers,
        params_of: Callable[[Task], Any],
        flops_of: Callable[[int, Callable[[], Any]], float],
        device: str = "cpu",
    ) -> None:
        self.net, self.opponents, self.verifiers = net, opponents, verifiers
        self.params_of, self.flops_of, self.device = params_of, flops_of, device

    @torch.no_grad()
    def policy_step(
        self, boards: Sequence[chess.Board], temperature: float, generator: torch.Generator
    ) -> tuple[list[chess.Move], np.ndarray, list[np.ndarray], np.ndarray, np.ndarray, float]:
        """Sample one move per board: (moves, compact boards, legal indices, actions, log-probs, forward FLOPs)."""
        compact = compact_boards(boards)
        planes = torch.from_numpy(expand_compact(compact)).to(self.device)
        legal_moves, legal_idx = zip(*(legal_moves_and_indices(b) for b in boards))
        mask = torch.zeros(len(boards), NUM_MOVES, dtype=torch.bool)
        rows = torch.repeat_interleave(torch.arange(len(boards)), torch.tensor([len(i) for i in legal_idx]))
        mask[rows, torch.from_numpy(np.concatenate(legal_idx))] = True
        out: dict[str, torch.Tensor] = {}

        def forward() -> None:
            out["logits"] = self.net(planes)[0].float().cpu()

        flops = self.flops_of(len(boards), forward)
        logits = out["logits"] / max(temperature, 1e-6)
        logp = masked_log_softmax(logits, mask)
        actions = torch.multinomial(logp.exp(), 1, generator=generator).squeeze(1)
        chosen = logp.gather(1, actions[:, None]).squeeze(1)
        moves = []
        for b, (ms, idx) in enumerate(zip(legal_moves, legal_idx)):
            moves.append(ms[int(np.flatnonzero(idx == int(actions[b]))[0])])
        return moves, compact, list(legal_idx), actions.numpy(), chosen.numpy(), flops

    def run(self, tasks: Sequence[Task], group: int, temperature: float, generator: torch.Generator) -> RolloutBatch:
        rollouts = []
        for t, task in enumerate(tasks):
            start = task.board()
            over = start.is_game_over(claim_draw=False)  # a file task may start finished: nothing to play
            for _ in range(group):
                rollouts.append(_Rollout(t, chess.Board(task.fen), start.turn, done=over))
        names = {t: self.opponents.resolve(task.opponent) for t, task in enumerate(tasks)}
        compact, legal, actions, logps, owner = [], [], [], [], []
        plies = 0
        flops = 0.0
        while True:
            active = [i for i, r in enumerate(rollouts) if not r.done]
            if not active:
                break
            boards = [rollouts[i].board for i in active]
            moves, comp, leg, act, lp, f = self.policy_step(boards, temperature, generator)
            flops += f
            compact.append(comp)
            legal.extend(leg)
            actions.append(act)
            logps.append(lp)
            owner.extend(active)
            replying: dict[str, list[int]] = {}
            for i, move in zip(active, moves):
                r = rollouts[i]
                r.board.push(move)
                r.moves += 1
                plies += 1
                task = tasks[r.task_index]
                last = r.moves >= task.horizon
                if r.board.is_game_over(claim_draw=False) or (last and stops_after_last_move(task.verifier)):
                    r.done = True
                else:
                    replying.setdefault(names[r.task_index], []).append(i)
            for name, idx in replying.items():
                replies = self.opponents.moves(name, [rollouts[i].board for i in idx])
                for i, move in zip(idx, replies):
                    r = rollouts[i]
                    r.board.push(move)
                    plies += 1
                    if r.board.is_game_over(claim_draw=False) or r.moves >= tasks[r.task_index].horizon:
                        r.done = True
        finished = [
            Finished(tasks[r.task_index], self.params_of(tasks[r.task_index]), tasks[r.task_index].board(), r.board,
                     r.learner, r.moves)
            for r in rollouts
        ]
        rewards, calls = self.verifiers.score(finished)
        return RolloutBatch(
            compact=np.concatenate(compact) if compact else np.zeros((0, COMPACT_WORDS), dtype=np.uint64),
            legal=legal,
            actions=np.concatenate(actions).astype(np.int64) if actions else np.zeros(0, dtype=np.int64),
            logp_old=np.concatenate(logps).astype(np.float32) if logps else np.zeros(0, dtype=np.float32),
            rollout_index=np.asarray(owner, dtype=np.int64),
            rewards=np.asarray(rewards, dtype=np.float32).reshape(len(tasks), group),
            plies=plies,
            verifier_calls=calls,
            forward_flops=flops,
            final_fens=[r.board.fen() for r in rollouts],
        )

