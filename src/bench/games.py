"""Games: openings, the game loop with engine-tester adjudication, concurrent matches, PGN records.

`play_game` returns a `chess.pgn.Game` whose headers say everything needed to recompute a rating offline:
players, opening, seed, termination, adjudication rules and per-side move statistics. `play_match` runs many
games at once, in forked worker processes (`bench.match_pool`) or threads, each worker holding its own players
(one engine process per concurrent game, reused across games), and hands every finished game to a callback in
the calling process at once (the run appends it to games.pgn).
"""

from __future__ import annotations

import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Literal, TypeVar

import chess
import chess.engine
import chess.pgn

from bench.config import CONF_DIR, AdjudicationConfig, EvalConfig
from bench.errors import BenchError
from bench.players import EngineFailure, MoveResult, Player, engine_call, open_engine

MATE_CP = 100_000


@dataclass(frozen=True)
class Opening:
    name: str
    moves: tuple[chess.Move, ...]

    def board(self) -> chess.Board:
        board = chess.Board()
        for move in self.moves:
            board.push(move)
        return board


def parse_openings(text: str, source: str = "<text>") -> list[Opening]:
    """Parse `name: SAN moves` lines; a bad line is a BenchError naming the file and line."""
    openings = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, sans = line.partition(":")
        if not sep or not name.strip():
            raise BenchError(f"{source}:{number}: expected 'name: SAN moves', got {line!r}")
        board = chess.Board()
        moves = []
        for san in sans.split():
            try:
                moves.append(board.push_san(san))
            except ValueError as exc:
                raise BenchError(f"{source}:{number}: illegal or unparsable move {san!r} in {name.strip()!r}") from exc
        if board.is_game_over():
            raise BenchError(f"{source}:{number}: opening {name.strip()!r} ends the game")
        openings.append(Opening(name.strip(), tuple(moves)))
    if not openings:
        raise BenchError(f"{source}: no openings found")
    return openings


def load_openings(name: str) -> list[Opening]:
    """The suite `conf/openings/<name>.txt` (or a path to such a file)."""
    path = Path(name) if name.endswith(".txt") else CONF_DIR / "openings" / f"{name}.txt"
    if not path.is_file():
        raise BenchError(f"opening suite {name!r} not found at {path}; choose a file in {CONF_DIR / 'openings'}")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise BenchError(f"{path}: not UTF-8 text (byte {exc.start}); an opening suite is 'name: SAN moves' lines") from exc
    return parse_openings(text, str(path))


@dataclass(frozen=True)
class GameRules:
    """The rules every game of a match is played under; written into each PGN."""

    # defaults (and their documentation) come from the config schema: `EvalConfig` and `AdjudicationConfig`
    name: str = EvalConfig.rules
    max_plies: int = EvalConfig.max_plies
    adjudicate: bool = AdjudicationConfig.enabled
    adjudication_nodes: int = AdjudicationConfig.nodes
    win_cp: int = AdjudicationConfig.win_cp
    win_plies: int = AdjudicationConfig.win_plies
    draw_cp: int = AdjudicationConfig.draw_cp
    draw_plies: int = AdjudicationConfig.draw_plies
    draw_min_ply: int = AdjudicationConfig.draw_min_ply
    at_ply_cap: str = AdjudicationConfig.at_ply_cap

    @classmethod
    def from_config(cls, eval_cfg: Any) -> "GameRules":
        adj = eval_cfg.adjudication
        if adj.at_ply_cap not in ("engine", "draw"):
            raise BenchError(f"eval.adjudication.at_ply_cap={adj.at_ply_cap!r}; use 'engine' or 'draw'")
        return cls(
            name=str(eval_cfg.get("rules", EvalConfig.rules)),
            max_plies=int(eval_cfg.max_plies),
            adjudicate=bool(adj.enabled),
            adjudication_nodes=int(adj.nodes),
            win_cp=int(adj.win_cp),
            win_plies=int(adj.win_plies),
            draw_cp=int(adj.draw_cp),
            draw_plies=int(adj.draw_plies),
            draw_min_ply=int(adj.draw_min_ply),
            at_ply_cap=str(adj.at_ply_cap),
        )

    def describe(self) -> str:
        """One line for PGN headers and calibration files; equal strings mean equal rules (the name is a label)."""
        if not self.adjudicate:
            return f"maxplies={self.max_plies} cap=draw adjudication=off"
        return (
            f"maxplies={self.max_plies} cap={self.at_ply_cap} adjudicator=stockfish:nodes={self.adjudication_nodes} "
            f"win={self.win_cp}cp/{self.win_plies}plies draw={self.draw_cp}cp/{self.draw_plies}plies@{self.draw_min_ply}"
        )


class Adjudicator:
    """A Stockfish process that scores positions from White's view, for win/draw adjudication."""

    def __init__(self, nodes: int, stockfish_path: str | None = None, timeout: float = 30.0) -> None:
        self.limit = chess.engine.Limit(nodes=nodes)
        self.engine = open_engine(stockfish_path, timeout=timeout)
        self.engine.configure({"Threads": 1, "Hash": 16})
        self.timeout = timeout
        self.calls = 0

    def score(self, board: chess.Board, game_key: object) -> int:
        info = engine_call(self.engine, lambda: self.engine.analyse(board, self.limit, game=game_key,
                                                                     info=chess.engine.INFO_SCORE),
                           self.timeout, "adjudicator")
        self.calls += 1
        return int(info["score"].white().score(mate_score=MATE_CP))

    def close(self) -> None:
        try:
            self.engine.quit()
        except Exception:
            try:
                self.engine.close()
            except Exception:
                pass


@dataclass
class _SideStats:
    moves: int = 0
    nodes: int = 0
    flops: float = 0.0
    tokens_in: int = 0
    tokens_out: int = 0
    seconds: float = 0.0
    illegal: int = 0
    forfeits: int = 0

    def add(self, result: MoveResult, seconds: float) -> None:
        self.moves += 1
        self.nodes += result.nodes
        self.flops += result.flops
        self.tokens_in += result.tokens_in
        self.tokens_out += result.tokens_out
        self.seconds += seconds
        self.illegal += result.illegal
        self.forfeits += int(result.forfeit)

    def headers(self, side: str) -> dict[str, str]:
        return {
            f"{side}Moves": str(self.moves),
            f"{side}Nodes": str(self.nodes),
            f"{side}Flops": f"{self.flops:.4g}",
            f"{side}TokensIn": str(self.tokens_in),
            f"{side}TokensOut": str(self.tokens_out),
            f"{side}Seconds": f"{self.seconds:.3f}",
            f"{side}Illegal": str(self.illegal),
            f"{side}Forfeits": str(self.forfeits),
        }


def _rules_outcome(board: chess.Board) -> tuple[str, str] | None:
    """(result, termination) when the rules end the game; repetition and fifty moves are drawn at once."""
    outcome = board.outcome(claim_draw=False)
    if outcome is not None:
        return outcome.result(), outcome.termination.name.lower()
    if board.halfmove_clock >= 100:
        return "1/2-1/2", "fifty_moves"
    if board.is_repetition(3):
        return "1/2-1/2", "threefold_repetition"
    return None


def play_game(
    white: Player,
    black: Player,
    opening: Opening,
    rules: GameRules,
    adjudicator: Adjudicator | None = None,
    seed: int = 0,
    headers: dict[str, str] | None = None,
) -> chess.pgn.Game:
    """Play one game from `opening` and return it as PGN with full headers.

    A player that returns an illegal move (a bug, not an LLM answer: those are handled inside the player) loses
    that move to a random legal one, counted as a forfeit.
    """
    board = opening.board()
    game = chess.pgn.Game()
    node: chess.pgn.GameNode = game
    for move in opening.moves:
        node = node.add_variation(move)
    rng = random.Random(seed)
    white.new_game(seed)
    black.new_game(seed + 1)
    stats = {chess.WHITE: _SideStats(), chess.BLACK: _SideStats()}
    game_key = object()
    win_streak = {chess.WHITE: 0, chess.BLACK: 0}
    draw_streak = 0
    result, termination = "*", ""
    while True:
        ended = _rules_outcome(board)
        if ended:
            result, termination = ended
            break
        if board.ply() >= rules.max_plies:
            result, termination = _cap_result(board, rules, adjudicator, game_key)
            break
        mover = white if board.turn == chess.WHITE else black
        start = time.perf_counter()
        answer = mover.play(board)
        seconds = time.perf_counter() - start
        move = answer.move
        comment = answer.comment
        if move not in board.legal_moves:
            move = rng.choice(list(board.legal_moves))
            answer = MoveResult(move=move, nodes=answer.nodes, flops=answer.flops, tokens_in=answer.tokens_in,
                                tokens_out=answer.tokens_out, illegal=answer.illegal + 1, forfeit=True)
            comment = "forfeit: illegal move replaced by a random legal move"
        elif answer.forfeit:
            comment = comment or "forfeit: random legal move"
        stats[board.turn].add(answer, seconds)
        board.push(move)
        node = node.add_variation(move)
        if comment:
            node.comment = comment
        if adjudicator is not None and rules.adjudicate and not board.is_game_over():
            score = adjudicator.score(board, game_key)
            for side, sign in ((chess.WHITE, 1), (chess.BLACK, -1)):
                win_streak[side] = win_streak[side] + 1 if sign * score >= rules.win_cp else 0
            draw_streak = draw_streak + 1 if abs(score) <= rules.draw_cp else 0
            if win_streak[chess.WHITE] >= rules.win_plies:
                result, termination = "1-0", "adjudication_win"
                break
            if win_streak[chess.BLACK] >= rules.win_plies:
                result, termination = "0-1", "adjudication_win"
                break
            if draw_streak >= rules.draw_plies and board.ply() >= rules.draw_min_ply:
                result, termination = "1/2-1/2", "adjudication_draw"
                break
    game.headers.update(
        {
            "Event": "bench",
            "Site": "bench",
            "Date": time.strftime("%Y.%m.%d"),
            "White": white.name,
            "Black": black.name,
            "Result": result,
            "Opening": opening.name,
            "Termination": termination,
            "PlyCount": str(board.ply()),
            "GameSeed": str(seed),
            "Rules": rules.describe(),
            "RuleSet": rules.name,
            **stats[chess.WHITE].headers("White"),
            **stats[chess.BLACK].headers("Black"),
            **(headers or {}),
        }
    )
    return game


def _cap_result(board: chess.Board, rules: GameRules, adjudicator: Adjudicator | None, key: object) -> tuple[str, str]:
    if rules.at_ply_cap == "engine" and adjudicator is not None:
        score = adjudicator.score(board, key)
        if score >= rules.win_cp:
            return "1-0", "ply_cap_adjudication"
        if score <= -rules.win_cp:
            return "0-1", "ply_cap_adjudication"
    return "1/2-1/2", "ply_cap"


def white_score(result: str) -> float:
    return {"1-0": 1.0, "0-1": 0.0, "1/2-1/2": 0.5}[result]


@dataclass(frozen=True)
class GameSpec:
    """One game of a match: who plays which colour, from which opening, with which seed."""

    index: int
    white: str
    black: str
    opening: Opening
    seed: int
    headers: dict[str, str] = field(default_factory=dict)


def paired_specs(
    first: str, second: str, openings: list[Opening], pairs: int, seed: int, start_index: int = 0,
    opening_offset: int = 0, headers: dict[str, str] | None = None,
) -> list[GameSpec]:
    """`pairs` game pairs between two players: each opening twice, colours swapped (paired games)."""
    specs = []
    for k in range(pairs):
        opening = openings[(opening_offset + k) % len(openings)]
        pair_headers = {**(headers or {}), "Pair": str(start_index // 2 + k)}
        for swap in (False, True):
            index = start_index + 2 * k + int(swap)
            white, black = (second, first) if swap else (first, second)
            specs.append(GameSpec(index, white, black, opening, seed * 1_000_003 + index, pair_headers))
    return specs


PlayerFactory = Callable[[], Player]
Parallel = Literal["auto", "processes", "threads"]
F = TypeVar("F", bound=Callable[..., Any])
THREAD_ONLY = "match_thread_only"


def thread_only(factory: F) -> F:
    """Mark a player factory whose players write to state the calling process reads afterwards (a shared tally,
    a backend's counters or cache): `play_match(parallel="auto")` then plays in threads, where such writes are
    seen. On a method, decorate the function in the class body (a bound method reads its function's marks)."""
    setattr(factory, THREAD_ONLY, True)
    return factory


@dataclass
class MatchStats:
    games: int = 0
    engine_restarts: int = 0
    events: list[str] = field(default_factory=list)
    parallel: str = "threads"
    """Where the games ran: `processes` or `threads` (see `play_match`)."""


GameWire = tuple[dict[str, str], list[tuple[str, str]], str]
"""A game as it crosses from a worker process: headers, mainline (UCI move, comment) pairs, the game comment."""


def game_to_wire(game: chess.pgn.Game) -> GameWire:
    """The mainline game `play_game` builds, as plain data. Not PGN text: rebuilding from UCI moves skips SAN
    parsing (a legal-move generation per ply) in the parent, about 10x less of its time (3 ms against 30 for a
    200-ply game, measured on a loaded 2-core machine), and every comment survives unescaped."""
    return dict(game.headers), [(node.move.uci(), node.comment) for node in game.mainline()], game.comment


def game_from_wire(wire: GameWire) -> chess.pgn.Game:
    headers, moves, comment = wire
    game = chess.pgn.Game(headers)
    game.comment = comment
    node: chess.pgn.GameNode = game
    for uci, move_comment in moves:
        node = node.add_variation(chess.Move.from_uci(uci), comment=move_comment)
    return game


class _Worker:
    """One thread's players (built lazily from factories, reused across games) and its adjudicator."""

    def __init__(self, factories: dict[str, PlayerFactory], rules: GameRules, stockfish_path: str | None,
                 move_timeout: float) -> None:
        self.factories = factories
        self.rules = rules
        self.stockfish_path = stockfish_path
        self.move_timeout = move_timeout
        self.players: dict[str, Player] = {}
        self.adjudicator: Adjudicator | None = None

    def player(self, key: str) -> Player:
        if key not in self.players:
            if key not in self.factories:
                raise BenchError(f"no player named {key!r} in this match")
            self.players[key] = self.factories[key]()
        return self.players[key]

    def play(self, spec: GameSpec) -> chess.pgn.Game:
        if self.rules.adjudicate and self.adjudicator is None:
            self.adjudicator = Adjudicator(self.rules.adjudication_nodes, self.stockfish_path, self.move_timeout)
        white, black = self.player(spec.white), self.player(spec.black)
        return play_game(white, black, spec.opening, self.rules, self.adjudicator, spec.seed,
                         {"Round": str(spec.index), "GameIndex": str(spec.index), **spec.headers})

    def reset(self) -> None:
        """Close everything (after an engine failure); fresh processes are started on next use."""
        self.close()
        self.players = {}
        self.adjudicator = None

    def close(self) -> None:
        for player in self.players.values():
            try:
                player.close()
            except Exception:
                pass
        if self.adjudicator is not None:
            self.adjudicator.close()


def _play_with_replays(worker: _Worker, spec: GameSpec, max_replays: int,
                       on_restart: Callable[[str], None]) -> chess.pgn.Game:
    """`worker.play(spec)`; an engine failure restarts the worker's engines and replays the game from its start."""
    for attempt in range(max_replays + 1):
        try:
            return worker.play(spec)
        except EngineFailure as exc:
            worker.reset()
            on_restart(f"game {spec.index}: {exc}; replaying (attempt {attempt + 2})")
            if attempt == max_replays:
                raise BenchError(f"game {spec.index} failed {max_replays + 1} times: {exc}") from exc
    raise AssertionError("unreachable")


def choose_parallel(parallel: Parallel, concurrency: int, games: int,
                    factories: dict[str, PlayerFactory]) -> Literal["processes", "threads"]:
    """Where `play_match` plays: `auto` picks processes for more than one game at once, unless fork is unsafe
    here (not Linux, or CUDA already initialised) or a factory is marked `thread_only`."""
    from bench.match_pool import fork_safe

    if parallel == "threads":
        return "threads"
    if parallel == "processes":
        reason = fork_safe()
        if reason:
            raise BenchError(f"play_match(parallel='processes'): {reason}; use parallel='threads'")
        return "processes"
    if parallel != "auto":
        raise BenchError(f"parallel={parallel!r}; use auto, processes or threads")
    if min(concurrency, games) <= 1 or fork_safe() or any(getattr(f, THREAD_ONLY, False) for f in factories.values()):
        return "threads"
    return "processes"


def play_match(
    specs: list[GameSpec],
    factories: dict[str, PlayerFactory],
    rules: GameRules,
    concurrency: int = 1,
    on_game: Callable[[GameSpec, chess.pgn.Game], None] | None = None,
    stockfish_path: str | None = None,
    move_timeout: float = 30.0,
    max_replays: int = 3,
    progress: bool = True,
    description: str = "games",
    parallel: Parallel = "auto",
) -> tuple[list[chess.pgn.Game], MatchStats]:
    """Play `specs` with `concurrency` games at once; returns the games in spec order and the match's stats.

    A game whose engine dies or hangs is replayed from its start with fresh engines (the same seed, so the same
    game where the players are deterministic) and counted once; each restart is logged in `stats.events`. The
    first error stops the match and is raised here; `on_game` runs in this process as each game ends.

    `parallel` says where the games run (`choose_parallel` decides `auto`):
    - `processes`: one forked process per concurrent game, each with its own players built from `factories`
      (inherited by fork) and its own interpreter, so games no longer queue for one; the games come back as plain
      data. A network player runs a copy of its network in each process (one core each, torch at 1 thread),
      which keeps the search's Python in parallel too. Batching the forward passes of all games into one call per
      step (as mcts self-play does) would save per-call overhead, but the games' search and board code would
      still share one interpreter: for the small CPU networks here that code, not the forward pass, is most of
      a move (`benchmarks/match_throughput.py --mcts` measures both ways).
    - `threads`: the players live in this process. For what processes cannot do: a player that writes to
      state the caller reads afterwards (mark its factory `thread_only`), CUDA already initialised here, no safe
      fork (macOS, Windows); and for one game at a time, where they gain nothing.
    The same specs and seeds give the same games either way when the players are seeded (`new_game(seed)`).
    """
    from tqdm import tqdm

    mode = choose_parallel(parallel, concurrency, len(specs), factories)
    stats = MatchStats(parallel=mode)
    results: dict[int, chess.pgn.Game] = {}
    bar = tqdm(total=len(specs), desc=description, disable=not progress, leave=False, unit="game")
    worker_args = (factories, rules, stockfish_path, move_timeout)
    try:
        if mode == "processes":
            _in_processes(specs, worker_args, concurrency, max_replays, on_game, stats, results, bar)
        else:
            _in_threads(specs, worker_args, concurrency, max_replays, on_game, stats, results, bar)
    finally:
        bar.close()
    return [results[position] for position in range(len(specs))], stats


def _in_processes(specs: list[GameSpec], worker_args: tuple, processes: int, max_replays: int,
                  on_game: Callable[[GameSpec, chess.pgn.Game], None] | None, stats: MatchStats,
                  results: dict[int, chess.pgn.Game], bar: Any) -> None:
    from bench.match_pool import ForkPool

    def work(worker: _Worker, position: int) -> tuple[GameWire, list[str]]:
        events: list[str] = []
        game = _play_with_replays(worker, specs[position], max_replays, events.append)
        return game_to_wire(game), events

    def arrived(position: int, payload: tuple[GameWire, list[str]]) -> None:
        wire, events = payload
        game = game_from_wire(wire)
        stats.engine_restarts += len(events)
        stats.events += events
        results[position] = game
        stats.games += 1
        if on_game is not None:
            on_game(specs[position], game)
        bar.update(1)

    pool = ForkPool(processes, lambda: _Worker(*worker_args), work, lambda worker: worker.close(), name="match")
    pool.run(len(specs), arrived)


def _in_threads(specs: list[GameSpec], worker_args: tuple, threads: int, max_replays: int,
                on_game: Callable[[GameSpec, chess.pgn.Game], None] | None, stats: MatchStats,
                results: dict[int, chess.pgn.Game], bar: Any) -> None:
    lock = threading.Lock()
    queue: Iterator[int] = iter(range(len(specs)))
    failures: list[BaseException] = []

    def next_position() -> int | None:
        with lock:
            if failures:
                return None
            return next(queue, None)

    def restarted(event: str) -> None:
        with lock:
            stats.engine_restarts += 1
            stats.events.append(event)

    def work() -> None:
        worker = _Worker(*worker_args)
        try:
            while (position := next_position()) is not None:
                game = _play_with_replays(worker, specs[position], max_replays, restarted)
                with lock:
                    results[position] = game
                    stats.games += 1
                    if on_game is not None:
                        on_game(specs[position], game)
                    bar.update(1)
        except BaseException as exc:  # stop the other workers, re-raise in the caller
            with lock:
                failures.append(exc)
        finally:
            worker.close()

    threads = max(1, min(threads, len(specs)))
    with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="match") as pool:
        try:
            for future in [pool.submit(work) for _ in range(threads)]:
                future.result()
        except BaseException as exc:  # e.g. Ctrl-C here: the workers stop after their current game
            with lock:
                failures.append(exc)
            raise
    if failures:
        raise failures[0]
