"""Verifiers: programs that score a finished rollout, and the Stockfish pool they (and the opponents) use.

- `mate`: 1 when the learner's side has checkmated the opponent within `mate_in` moves, by the rules; else 0.
- `material`: the learner's material gain over the rollout (1/3/3/5/9), scaled so `target_gain` pawns score 1,
  counted only when Stockfish confirms it: its evaluation of the final position must exceed the start's material
  balance by at least `confirm_fraction` of the gain (a capture that loses more by force is not a gain).
- `eval`: Stockfish's verdict on the position the rollout reached, as the learner's win probability (an
  evaluation gain: within a group the start's evaluation is a common baseline that the advantages remove).
- `result`: the game result from the learner's side (win 1, draw 1/2, loss 0); a rollout that reaches its
  horizon unfinished is adjudicated by Stockfish, like the harness does, or scored by win probability.
- `game`: the game played to the end under the evaluation's rules (rule set `mate`): a checkmate by the learner
  scores 1 less `length_penalty` x (its moves / horizon), so a quicker mate scores more; every draw (stalemate,
  threefold repetition, fifty moves, insufficient material, and the horizon, which is the rollout's ply cap)
  scores `draw_reward` (0 by default: against a weak opponent a draw is a failure to convert); a loss scores 0.
  Rules only, no engine call.
- `capture`: 1 when the learner's move wins at least `min_gain` pawns of material by static exchange on the square
  it captures on (`exchange.py`: every recapture there played out, each side free to stop), or mates at once; else
  0. Judged after the learner's move, by the rules alone (no engine call, no reply played).

Every rollout ends where the evaluation's rules end a game (`games.py`): checkmate, stalemate, insufficient
material, and, drawn at once, the third occurrence of a position or fifty moves without a capture or pawn move.

Every engine evaluation used for a reward is counted as one verifier call. Each one starts a new game in the
engine (`ucinewgame`: an empty hash and search history, about 3 ms), so a position's score depends on the position
alone, not on which engine process scored it or what it searched before: rewards replay exactly after a resume or
an engine restart. A dead or hung engine (no answer within `stockfish.move_timeout`) is killed and replaced, and
the evaluation asked again.
"""

from __future__ import annotations

import logging
import math
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import chess
import chess.engine

from bench.errors import BenchError
from bench.learners.rlvr.exchange import PIECE_VALUES, static_exchange
from bench.learners.rlvr.tasks import Task
from bench.players import EngineFailure, engine_call, open_engine

log = logging.getLogger(__name__)

MATE_CP = 10_000


def material(board: chess.Board, colour: chess.Color) -> int:
    """Material of `colour` minus the other side's, in pawns (1/3/3/5/9)."""
    total = 0
    for piece_type, value in PIECE_VALUES.items():
        total += value * (len(board.pieces(piece_type, colour)) - len(board.pieces(piece_type, not colour)))
    return total


def win_probability(cp: float) -> float:
    """Expected score from a centipawn evaluation: lichess's model 1 / (1 + exp(-0.00368208 cp))
    (lichess.org/page/accuracy)."""
    return 1.0 / (1.0 + math.exp(-0.00368208 * max(-MATE_CP, min(MATE_CP, cp))))


def game_result(board: chess.Board, learner: chess.Color) -> float | None:
    """1, 1/2 or 0 for the learner when the game is over by the evaluation's rules, else None: as
    `games._rules_outcome`, threefold repetition (within the rollout's moves) and fifty moves draw at once."""
    outcome = board.outcome(claim_draw=False)
    if outcome is not None:
        if outcome.winner is None:
            return 0.5
        return 1.0 if outcome.winner == learner else 0.0
    if board.halfmove_clock >= 100 or board.is_repetition(3):
        return 0.5
    return None


class EnginePool:
    """`size` Stockfish processes driven in parallel by threads; one call per engine at a time.

    A call that fails (the process died, answered garbage, or gave no answer within `timeout` seconds and was
    killed) is retried on a fresh process, at most `retries` times; `restarts` counts the replacements.
    """

    def __init__(self, size: int, path: str | None = None, hash_mb: int = 16, timeout: float = 30.0,
                 retries: int = 2) -> None:
        self.size = max(1, size)
        self.path, self.hash_mb = path, hash_mb
        self.timeout, self.retries = timeout, retries
        self.restarts = 0
        self.starts = 0
        """Engine processes opened over the pool's life (the first ones and the replacements)."""
        self._engines: list[chess.engine.SimpleEngine] = []
        self._free: list[chess.engine.SimpleEngine] = []
        self._lock = threading.Lock()
        self._executor: ThreadPoolExecutor | None = None

    def _acquire(self) -> chess.engine.SimpleEngine:
        with self._lock:
            if self._free:
                return self._free.pop()
        engine = open_engine(self.path, timeout=self.timeout)
        with self._lock:
            self.starts += 1
        try:
            engine.configure({"Threads": 1, "Hash": self.hash_mb})
        except BaseException:
            engine.close()
            raise
        with self._lock:
            self._engines.append(engine)
        return engine

    def _release(self, engine: chess.engine.SimpleEngine) -> None:
        with self._lock:
            self._free.append(engine)

    def _discard(self, engine: chess.engine.SimpleEngine) -> None:
        with self._lock:
            self._engines.remove(engine)
            self.restarts += 1
        try:
            engine.close()
        except Exception:
            pass

    def _run(self, fn: Callable[[chess.engine.SimpleEngine, Any], Any], item: Any) -> Any:
        failures = 0
        while True:
            engine = self._acquire()
            try:
                result = engine_call(engine, lambda: fn(engine, item), self.timeout, "verifier engine")
            except EngineFailure as exc:
                self._discard(engine)
                failures += 1
                if failures > self.retries:
                    raise BenchError(f"the rlvr verifier engine failed {failures} times in a row, last: {exc}") from exc
                log.warning("%s; replaced by a fresh engine, asking again (attempt %d of %d)", exc, failures + 1,
                            self.retries + 1)
                continue
            self._release(engine)
            return result

    def map(self, fn: Callable[[chess.engine.SimpleEngine, Any], Any], items: Sequence[Any]) -> list[Any]:
        if not items:
            return []
        if self.size == 1 or len(items) == 1:
            return [self._run(fn, item) for item in items]
        if self._executor is None:
            self._executor = ThreadPoolExecutor(self.size, thread_name_prefix="rlvr-engine")
        return list(self._executor.map(lambda item: self._run(fn, item), items))

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None
        for engine in self._engines:
            try:
                engine.quit()
            except Exception:
                try:
                    engine.close()
                except Exception:
                    pass
        self._engines, self._free = [], []


@dataclass
class Finished:
    """A finished rollout handed to the verifiers."""

    task: Task
    params: Any
    """The generator config of the task (verifier parameters)."""
    start: chess.Board
    end: chess.Board
    learner: chess.Color
    learner_moves: int


def stops_after_last_move(verifier: str) -> bool:
    """Whether a rollout ends right after the learner's last move (mate: the outcome is fixed by then; eval and
    capture: the learner's own move is judged, not the opponent's reply)."""
    return verifier in ("mate", "eval", "capture")


class Verifiers:
    """Scores batches of finished rollouts; engine evaluations go to an `EnginePool` in parallel."""

    def __init__(self, engines: EnginePool) -> None:
        self.engines = engines
        self.nodes = 0
        """Stockfish nodes the verifier's analyses searched, as the engine reported them (`info nodes`)."""
        self.new_games = 0
        """Analyses run, each in a new game (`ucinewgame`: the hash cleared)."""

    def score(self, items: Sequence[Finished]) -> tuple[list[float], int]:
        """Rewards in [0, 1] for each rollout, and the number of engine calls spent."""
        rewards: list[float | None] = [None] * len(items)
        ask: list[tuple[int, chess.Board, int]] = []  # (item index, board to evaluate, nodes)
        for i, it in enumerate(items):
            kind = it.task.verifier
            if kind == "mate":
                mated = it.end.is_checkmate() and it.end.turn != it.learner
                rewards[i] = 1.0 if mated and it.learner_moves <= it.params.mate_in else 0.0
            elif kind == "game":
                rewards[i] = self._game(it)
            elif kind == "capture":
                rewards[i] = self._capture(it)
            elif kind == "result":
                result = game_result(it.end, it.learner)
                if result is not None:
                    rewards[i] = result
                else:
                    ask.append((i, it.end, it.params.adjudicate_nodes))
            elif kind == "eval":
                result = game_result(it.end, it.learner)
                if result is not None:
                    rewards[i] = result
                else:
                    ask.append((i, it.end, it.params.eval_nodes))
            elif kind == "material":
                result = game_result(it.end, it.learner)
                gain = material(it.end, it.learner) - material(it.start, it.learner)
                if result is not None:
                    rewards[i] = 1.0 if result == 1.0 else (0.0 if result == 0.0 else self._scaled(gain, it))
                elif gain <= 0:
                    rewards[i] = 0.0
                elif it.params.confirm_nodes <= 0:
                    rewards[i] = self._scaled(gain, it)
                else:
                    ask.append((i, it.end, it.params.confirm_nodes))
            else:
                raise BenchError(f"unknown verifier {kind!r} in task {it.task.task_id or it.task.fen}")
        # each distinct position is asked once, even when many rollouts of a group reach it
        unique: dict[tuple[str, int], chess.Board] = {}
        for _, board, nodes in ask:
            unique.setdefault((board.fen(), nodes), board)
        cps = dict(zip(unique, self._evaluate(list(unique.values()), [k[1] for k in unique])))
        end_asks = [(i, board, cps[(board.fen(), nodes)]) for i, board, nodes in ask]
        for i, board, cp in end_asks:
            it = items[i]
            cp_learner = cp if board.turn == it.learner else -cp
            if it.task.verifier == "eval":
                rewards[i] = win_probability(cp_learner)
            elif it.task.verifier == "result":
                if it.params.at_horizon == "adjudicate":
                    win = it.params.win_cp
                    rewards[i] = 1.0 if cp_learner >= win else (0.0 if cp_learner <= -win else 0.5)
                else:
                    rewards[i] = win_probability(cp_learner)
            else:  # material, confirmed by the engine
                before = material(it.start, it.learner)
                gain = material(it.end, it.learner) - before
                confirmed = cp_learner - 100.0 * before >= it.params.confirm_fraction * 100.0 * gain
                rewards[i] = self._scaled(gain, it) if confirmed else 0.0
        return [float(r) for r in rewards], len(unique)

    @staticmethod
    def _game(it: Finished) -> float:
        """The `game` verifier: a mate by the learner scores 1 - length_penalty * moves / horizon; any draw
        (the horizon included) `draw_reward`; a loss 0."""
        result = game_result(it.end, it.learner)
        if result == 1.0:
            return 1.0 - float(it.params.length_penalty) * it.learner_moves / max(1, it.task.horizon)
        if result == 0.0:
            return 0.0
        return float(it.params.draw_reward)

    @staticmethod
    def _capture(it: Finished) -> float:
        """The `capture` verifier: 1 when the learner's last move (the rollout stops after it) won `min_gain` pawns
        by static exchange, or mated."""
        if it.end.is_checkmate() and it.end.turn != it.learner:
            return 1.0
        if not it.end.move_stack or it.end.turn == it.learner:
            return 0.0
        before = it.end.copy(stack=True)
        move = before.pop()
        return 1.0 if static_exchange(before, move) >= int(it.params.min_gain) else 0.0

    @staticmethod
    def _scaled(gain: float, it: Finished) -> float:
        return max(0.0, min(1.0, gain / it.params.target_gain))

    def _evaluate(self, boards: list[chess.Board], nodes: list[int]) -> list[float]:
        if not boards:
            return []
        pairs = list(zip(boards, nodes))

        def one(engine: chess.engine.SimpleEngine, pair: tuple[chess.Board, int]) -> float:
            board, n = pair
            # a new game per evaluation (`ucinewgame`): the score cannot depend on what this engine searched before
            info = engine.analyse(board, chess.engine.Limit(nodes=n), game=object(),
                                  info=chess.engine.INFO_BASIC | chess.engine.INFO_SCORE)
            return float(info["score"].pov(board.turn).score(mate_score=MATE_CP)), int(info.get("nodes", 0))

        results = self.engines.map(one, pairs)
        self.nodes += sum(nodes for _, nodes in results)
        self.new_games += len(results)
        return [cp for cp, _ in results]

    def close(self) -> None:
        self.engines.close()
