"""Everything that moves: the `Player` protocol, the move result it returns, and the built-in players.

A learner's snapshot, a Stockfish rung and the random mover all look the same to the game loop:
`play(board) -> MoveResult`. Players are resources (an engine process, a model); they are used as
context managers and closed, never started at import time.
"""

from __future__ import annotations

import concurrent.futures
import os
import random
import shutil
import signal
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Protocol, TypeVar, runtime_checkable

import chess
import chess.engine

from bench.errors import BenchError

STOCKFISH_FALLBACK = Path("/usr/games/stockfish")  # Debian's package installs here, off PATH
INSTALL_HINT = (
    "Stockfish not found: install it with `sudo apt-get install stockfish` "
    "(or `make test`, which does), or pass stockfish.path=/path/to/stockfish"
)


@dataclass(frozen=True)
class MoveResult:
    """A chosen move and what choosing it cost; compute accounting travels with every move."""

    move: chess.Move
    """The move to play; always legal in the position it was asked for."""
    nodes: int = 0
    """Engine nodes searched, or MCTS simulations run, for this move."""
    flops: float = 0.0
    """Floating-point operations spent by a network or language model for this move."""
    tokens_in: int = 0
    """Prompt tokens a language model read for this move (0 for non-LM players)."""
    tokens_out: int = 0
    """Tokens a language model generated or scored for this move."""
    seconds: float = 0.0
    """Wall-clock seconds the player took."""
    illegal: int = 0
    """Illegal or unparsable answers the player gave before this move."""
    forfeit: bool = False
    """True when the player failed to give a legal move and a random legal move was played instead."""
    comment: str = ""
    """Free text for the PGN comment of this move (e.g. the engine's score)."""


@runtime_checkable
class Player(Protocol):
    """Anything that plays chess. Lifetime is a context manager; `new_game` resets per-game state."""

    name: str

    def play(self, board: chess.Board) -> MoveResult:
        """Choose a move for the side to move in `board` (with its move stack; not modified)."""
        ...

    def new_game(self, seed: int) -> None:
        """Reset per-game state (engine hash, search tree, RNG seeded with `seed`)."""
        ...

    def close(self) -> None:
        ...

    def __enter__(self) -> "Player":
        ...

    def __exit__(self, *exc: object) -> None:
        ...


@dataclass(frozen=True)
class SearchLimit:
    """How long a player that can search may think about one move (UCI's `go` arguments, resolved)."""

    nodes: int | None = None
    """Stop after this many nodes (MCTS simulations); None: no node limit."""
    seconds: float | None = None
    """Stop after this many seconds (from `movetime` or the player's share of its clock); None: no time limit."""
    infinite: bool = False
    """Search until told to stop (`go infinite`); the limits above are then ignored."""

    @property
    def unlimited(self) -> bool:
        """No limit given: the player searches as configured."""
        return not self.infinite and self.nodes is None and self.seconds is None


@dataclass(frozen=True)
class SearchInfo:
    """What a searching player reports while it thinks (UCI's `info` line)."""

    nodes: int
    """Nodes (simulations) searched so far for this move."""
    seconds: float
    """Seconds since the search started."""
    depth: int = 0
    """Length of the principal variation."""
    score_cp: int | None = None
    """The search's evaluation for the side to move, in centipawns."""
    mate: int | None = None
    """Moves to mate (negative: being mated) when the search proved it; `score_cp` is then None."""
    pv: tuple[chess.Move, ...] = ()
    """The principal variation, best move first."""


@runtime_checkable
class LimitedPlayer(Protocol):
    """A player whose search honours node and time limits and can be stopped (bench-uci serves its limits)."""

    def play_limited(self, board: chess.Board, limit: SearchLimit, stop: threading.Event,
                     on_info: Callable[[SearchInfo], None] | None = None) -> MoveResult:
        """Search `board` until `limit` is reached or `stop` is set (then at once), reporting progress to
        `on_info`; return the best move found."""
        ...


class PlayerBase:
    """Context-manager plumbing shared by the built-in players."""

    name: str = "player"

    def new_game(self, seed: int) -> None:
        pass

    def close(self) -> None:
        pass

    def __enter__(self) -> "PlayerBase":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class RandomPlayer(PlayerBase):
    """Plays a uniformly random legal move: the floor of every ladder."""

    def __init__(self, name: str = "random", seed: int = 0) -> None:
        self.name = name
        self.rng = random.Random(seed)

    def new_game(self, seed: int) -> None:
        self.rng = random.Random(seed)

    def play(self, board: chess.Board) -> MoveResult:
        return MoveResult(move=self.rng.choice(list(board.legal_moves)))


def find_stockfish(path: str | None = None) -> str:
    """The Stockfish binary: `path` if given, else PATH, else Debian's /usr/games/stockfish."""
    if path:
        if not Path(path).is_file():
            raise BenchError(f"stockfish.path={path} does not exist. {INSTALL_HINT}")
        return str(path)
    found = shutil.which("stockfish")
    if found:
        return found
    if STOCKFISH_FALLBACK.is_file():
        return str(STOCKFISH_FALLBACK)
    raise BenchError(INSTALL_HINT)


def open_engine(path: str | None = None, timeout: float = 20.0) -> chess.engine.SimpleEngine:
    """Start one Stockfish process; a missing binary is one clear BenchError."""
    binary = find_stockfish(path)
    try:
        return chess.engine.SimpleEngine.popen_uci(binary, timeout=timeout)
    except (OSError, chess.engine.EngineError, TimeoutError) as exc:
        raise BenchError(f"could not start Stockfish at {binary}: {exc}. {INSTALL_HINT}") from exc


def engine_identity(binary: str) -> dict[str, str]:
    """Name and build of a Stockfish binary, from its banner and its non-UCI `compiler` command."""
    try:
        out = subprocess.run([binary], input="compiler\nquit\n", capture_output=True, text=True, timeout=20).stdout
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise BenchError(f"could not run Stockfish at {binary}: {exc}. {INSTALL_HINT}") from exc
    lines = [line.strip() for line in out.splitlines() if line.strip()]
    name = lines[0] if lines else "unknown"
    compiler = next((" ".join(lines[i : i + 2]) for i, l in enumerate(lines) if l.lower().startswith("compiled by")), "unknown")
    return {"name": name, "compiler": compiler}


def option_range(engine: chess.engine.SimpleEngine, option: str) -> tuple[int, int]:
    """The (min, max) an engine declares for a spin option such as `UCI_Elo` or `Skill Level`."""
    if option not in engine.options:
        raise BenchError(f"this Stockfish has no UCI option {option!r}; pick another rung setting")
    declared = engine.options[option]
    return int(declared.min), int(declared.max)


T = TypeVar("T")


class Watchdog:
    """One daemon thread per process that runs the action of any armed call still running after its deadline.

    Arming is a dict insert, not a thread: a `threading.Timer` started for every engine move cost about 0.7 ms of
    a 1.2 ms move at 1,000 nodes, which was the largest overhead of a fast game. The thread polls every `poll`
    seconds, so an action runs at most `poll` late; it is restarted in a forked child (threads do not survive a
    fork).
    """

    def __init__(self, poll: float = 0.05) -> None:
        self.poll = poll
        self._armed: dict[int, tuple[float, Callable[[], None]]] = {}
        self._lock = threading.Lock()
        self._next_key = 0
        self._owner_pid = -1
        if hasattr(os, "register_at_fork"):  # a fork while the watchdog thread holds the lock must not hang the child
            os.register_at_fork(after_in_child=self._forget)

    def _forget(self) -> None:
        """In a forked child: a fresh lock and nothing armed (the parent's calls are the parent's)."""
        self._lock = threading.Lock()
        self._armed = {}
        self._owner_pid = -1

    def arm(self, timeout: float, action: Callable[[], None]) -> int:
        """Run `action` once if `disarm(key)` has not been called within `timeout` seconds; returns the key."""
        with self._lock:
            if self._owner_pid != os.getpid():
                self._armed.clear()
                self._owner_pid = os.getpid()
                threading.Thread(target=self._watch, name="engine-watchdog", daemon=True).start()
            self._next_key += 1
            self._armed[self._next_key] = (time.monotonic() + timeout, action)
            return self._next_key

    def disarm(self, key: int) -> None:
        with self._lock:
            self._armed.pop(key, None)

    def _watch(self) -> None:
        pid = os.getpid()
        while self._owner_pid == pid:
            time.sleep(self.poll)
            now = time.monotonic()
            with self._lock:
                due = [key for key, (deadline, _) in self._armed.items() if deadline <= now]
                actions = [self._armed.pop(key)[1] for key in due]
            for action in actions:
                action()


WATCHDOG = Watchdog()


def engine_call(engine: chess.engine.SimpleEngine, call: Callable[[], T], timeout: float, who: str) -> T:
    """`call()` on `engine`, killing the engine process if it has not answered within `timeout` seconds.

    python-chess applies its own timeout only to time-limited searches (`SimpleEngine._timeout_for`), so a hung
    engine under a node or depth limit would block forever. The process's `WATCHDOG` kills the process instead
    (closing the engine from another thread would wait on the lock the pending call holds); every failure, hang
    included, becomes an `EngineFailure`, on which the match restarts the engine and replays the game. A garbled
    `bestmove` during `analyse` surfaces as a cancelled future, not an EngineError: it is a failure too.
    """
    hung = threading.Event()

    def kill() -> None:
        hung.set()
        try:
            os.kill(engine.protocol.transport.get_pid(), signal.SIGKILL)  # type: ignore[attr-defined]
        except (OSError, AttributeError):
            pass

    key = WATCHDOG.arm(timeout, kill)
    try:
        return call()
    except (chess.engine.EngineError, chess.engine.EngineTerminatedError, TimeoutError, OSError,
            concurrent.futures.CancelledError) as exc:
        if hung.is_set():
            raise EngineFailure(f"{who}: no answer within {timeout:g}s (hung); process killed") from exc
        raise EngineFailure(f"{who}: {type(exc).__name__}: {exc}") from exc
    finally:
        WATCHDOG.disarm(key)


@dataclass(frozen=True)
class EngineSettings:
    """How a Stockfish rung plays: strength options and the search limit per move."""

    nodes: int | None = None
    depth: int | None = None
    movetime: float | None = None
    """Seconds per move; machine-dependent, so node limits are preferred."""
    skill_level: int | None = None
    uci_elo: int | None = None
    epsilon: float = 0.0
    """Probability of a uniformly random legal move instead of the engine's (strength below UCI_Elo's floor)."""

    def limit(self) -> chess.engine.Limit:
        return chess.engine.Limit(nodes=self.nodes, depth=self.depth, time=self.movetime)

    def options(self, engine: chess.engine.SimpleEngine) -> dict[str, Any]:
        """UCI options for these settings, checked against the ranges this engine declares."""
        opts: dict[str, Any] = {}
        if self.uci_elo is not None:
            low, high = option_range(engine, "UCI_Elo")
            if not low <= self.uci_elo <= high:
                raise BenchError(
                    f"UCI_Elo={self.uci_elo} is outside this Stockfish's range {low}-{high}; "
                    "use epsilon or node limits for weaker rungs"
                )
            opts["UCI_LimitStrength"] = True
            opts["UCI_Elo"] = self.uci_elo
        else:
            opts["UCI_LimitStrength"] = False
        if self.skill_level is not None:
            low, high = option_range(engine, "Skill Level")
            if not low <= self.skill_level <= high:
                raise BenchError(f"Skill Level={self.skill_level} is outside this Stockfish's range {low}-{high}")
            opts["Skill Level"] = self.skill_level
        elif "Skill Level" in engine.options:
            opts["Skill Level"] = int(engine.options["Skill Level"].max)
        return opts


class StockfishPlayer(PlayerBase):
    """Stockfish over UCI at a fixed strength setting; optionally ε-mixed with random moves.

    One engine process per player, reused across games (`new_game` clears the hash). A dead or hung
    engine raises `EngineFailure`; the match restarts the player and replays that game.
    """

    def __init__(
        self,
        name: str,
        settings: EngineSettings,
        stockfish_path: str | None = None,
        threads: int = 1,
        hash_mb: int = 16,
        move_timeout: float = 30.0,
    ) -> None:
        self.name = name
        self.settings = settings
        self.move_timeout = move_timeout
        self.rng = random.Random(0)
        self._game_key = object()
        self.engine = open_engine(stockfish_path, timeout=move_timeout)
        try:
            base = {"Threads": threads, "Hash": hash_mb}
            self.engine.configure({**base, **settings.options(self.engine)})
        except BaseException:
            self.engine.quit()
            raise

    def new_game(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self._game_key = object()  # python-chess sends `ucinewgame` (clearing the hash) when the key changes

    def play(self, board: chess.Board) -> MoveResult:
        if self.settings.epsilon > 0 and self.rng.random() < self.settings.epsilon:
            return MoveResult(move=self.rng.choice(list(board.legal_moves)))
        result = engine_call(
            self.engine,
            lambda: self.engine.play(board, self.settings.limit(), game=self._game_key, info=chess.engine.INFO_BASIC),
            self.move_timeout, self.name,
        )
        if result.move is None:
            raise EngineFailure(f"{self.name} returned no move")
        return MoveResult(move=result.move, nodes=int(result.info.get("nodes", 0)))

    def close(self) -> None:
        try:
            self.engine.quit()
        except Exception:  # already dead: make sure the process is gone
            try:
                self.engine.close()
            except Exception:
                pass


class EngineFailure(RuntimeError):
    """An engine died, hung or answered garbage mid-game; the game is replayed with a fresh engine."""

