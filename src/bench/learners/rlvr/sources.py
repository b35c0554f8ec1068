"""Where task start positions come from: the start, the opening suite, random play, earlier rollouts, ladder games,
generated endgames, generated mate-in-one positions and user files.

Every source is bounded: it either returns a position within `max_tries` attempts or raises a `BenchError`
saying what it could not make. Sources whose data is not there yet (no rollouts, no ladder games) fall back to
random play and log it once.
"""

from __future__ import annotations

import logging
import random
from pathlib import Path
from typing import Any, Protocol

import chess
import chess.pgn

from bench.config import CONF_DIR
from bench.errors import BenchError
from bench.learners.rlvr.tasks import Task, load_task_file

log = logging.getLogger(__name__)

PIECE_LETTERS = {"K": chess.KING, "Q": chess.QUEEN, "R": chess.ROOK, "B": chess.BISHOP, "N": chess.KNIGHT, "P": chess.PAWN}


def mating_moves(board: chess.Board) -> list[chess.Move]:
    """Moves that checkmate at once, by the rules."""
    out = []
    for move in board.legal_moves:
        if board.gives_check(move):
            board.push(move)
            if board.is_checkmate():
                out.append(move)
            board.pop()
    return out


class SearchBudget(Exception):
    """Raised by `forced_mate` when its node budget is spent before a proof or refutation."""


def forced_mate(board: chess.Board, n: int, max_nodes: int = 200_000, first: chess.Move | None = None) -> chess.Move | None:
    """A move of the side to move that forces checkmate within `n` of its moves against every defence, by the rules
    alone (an AND-OR search: checks first, then captures, `first` before all); None when there is none.

    Raises `SearchBudget` after `max_nodes` positions, so a caller never waits on a wide position.
    """
    nodes = [0]

    def attack(depth: int) -> chess.Move | None:
        moves = list(board.legal_moves)
        checks = [m for m in moves if board.gives_check(m)]
        if depth == 1:
            ordered = checks  # only a check can mate at once
        else:
            rest = [m for m in moves if m not in checks]
            ordered = checks + sorted(rest, key=lambda m: not board.is_capture(m))
        if first is not None and depth == n and first in ordered:
            ordered = [first] + [m for m in ordered if m != first]
        for move in ordered:
            nodes[0] += 1
            if nodes[0] > max_nodes:
                raise SearchBudget(f"forced_mate: more than {max_nodes} positions")
            board.push(move)
            try:
                if board.is_checkmate():
                    return move
                if depth > 1 and not board.is_game_over(claim_draw=False) and board.halfmove_clock < 100 \
                        and defended(depth - 1):
                    return move
            finally:
                board.pop()
        return None

    def defended(depth: int) -> bool:
        """Every reply of the defender still loses to a mate within `depth` moves."""
        for reply in list(board.legal_moves):
            board.push(reply)
            try:
                if attack(depth) is None:
                    return False
            finally:
                board.pop()
        return True

    if n < 1:
        return None
    return attack(n)


def random_play(rng: random.Random, plies: int) -> chess.Board:
    """The position after up to `plies` uniformly random legal moves from the start (earlier if the game ends)."""
    board = chess.Board()
    for _ in range(plies):
        moves = list(board.legal_moves)
        if not moves:
            break
        board.push(rng.choice(moves))
        if board.is_game_over(claim_draw=False):
            board.pop()
            break
    return chess.Board(board.fen())


def parse_material(spec: str) -> tuple[list[int], list[int]]:
    """`KQvK` -> pieces of the side to move and of the other side; each side needs exactly one king."""
    parts = spec.upper().split("V")
    if len(parts) != 2 or any(c not in PIECE_LETTERS for c in parts[0] + parts[1]):
        raise BenchError(f"endgame material {spec!r} is malformed; write e.g. KQvK or KRPvKR")
    sides = [[PIECE_LETTERS[c] for c in part] for part in parts]
    if any(side.count(chess.KING) != 1 for side in sides):
        raise BenchError(f"endgame material {spec!r} must give each side exactly one king")
    if any(len(side) > 16 or side.count(chess.PAWN) > 8 for side in sides):
        raise BenchError(f"endgame material {spec!r} has more pieces than a side can have")
    return sides[0], sides[1]


def random_endgame(rng: random.Random, spec: str, max_tries: int = 200) -> chess.Board:
    """A legal random placement of `spec` material (side to move first) with the game not over."""
    mine, theirs = parse_material(spec)
    for _ in range(max_tries):
        turn = rng.choice([chess.WHITE, chess.BLACK])
        board = chess.Board(None)
        board.turn = turn
        squares = rng.sample(range(64), len(mine) + len(theirs))
        ok = True
        for piece, square in zip(mine + theirs, squares):
            colour = turn if len(board.piece_map()) < len(mine) else not turn
            if piece == chess.PAWN and chess.square_rank(square) in (0, 7):
                ok = False
                break
            board.set_piece_at(square, chess.Piece(piece, colour))
        if ok and board.is_valid() and not board.is_game_over():
            return board
    raise BenchError(f"could not place endgame material {spec!r} legally in {max_tries} tries")


class PositionSource(Protocol):
    def sample(self, rng: random.Random) -> chess.Board:
        ...


class StartSource:
    def sample(self, rng: random.Random) -> chess.Board:
        return chess.Board()


class OpeningSource:
    """Positions after the lines of an opening suite `conf/openings/<name>.txt` (the harness's format and parser)."""

    def __init__(self, name: str | None) -> None:
        from bench.games import load_openings

        self.boards = [chess.Board(o.board().fen()) for o in load_openings(name or "default")]

    def sample(self, rng: random.Random) -> chess.Board:
        return rng.choice(self.boards).copy()


class RandomPlaySource:
    def __init__(self, min_ply: int, max_ply: int) -> None:
        if not 0 <= min_ply <= max_ply:
            raise BenchError(f"random_play needs 0 <= min_ply <= max_ply, got {min_ply}, {max_ply}")
        self.min_ply, self.max_ply = min_ply, max_ply

    def sample(self, rng: random.Random) -> chess.Board:
        return random_play(rng, rng.randint(self.min_ply, self.max_ply))


class EndgameSource:
    def __init__(self, material: str, max_tries: int) -> None:
        parse_material(material)  # fail at build time, not mid-run
        self.material, self.max_tries = material, max_tries

    def sample(self, rng: random.Random) -> chess.Board:
        return random_endgame(rng, self.material, self.max_tries)


class MateInOneSource:
    """Positions with at least one mating move: random-play games scanned ply by ply, or KQvK / KRvK placements."""

    def __init__(self, min_ply: int, max_ply: int, max_tries: int) -> None:
        self.min_ply, self.max_ply, self.max_tries = min_ply, max_ply, max_tries

    def sample(self, rng: random.Random) -> chess.Board:
        for _ in range(self.max_tries):
            if rng.random() < 0.5:
                board = random_endgame(rng, rng.choice(["KQvK", "KRvK", "KQvKP", "KRRvK"]), self.max_tries)
                if mating_moves(board):
                    return board
                continue
            board = chess.Board()
            for ply in range(self.max_ply):
                moves = list(board.legal_moves)
                if not moves:
                    break
                if ply >= self.min_ply and mating_moves(board):
                    return chess.Board(board.fen())
                board.push(rng.choice(moves))
                if board.is_game_over(claim_draw=False):
                    break
        raise BenchError(f"mate_in_one source found no position with a mate in one in {self.max_tries} tries")


class ReservoirSource:
    """Positions from earlier rollouts, kept in a bounded reservoir (fed by the learner); random play until filled."""

    def __init__(self, capacity: int, fallback: PositionSource) -> None:
        self.capacity, self.fallback = capacity, fallback
        self.fens: list[str] = []
        self.seen = 0
        self._warned = False

    def add(self, fen: str, rng: random.Random) -> None:
        """Reservoir sampling (Vitter's algorithm R) keeps a uniform sample of the playable positions offered.

        The halfmove clock is reset: a rollout that ended in a fifty-move draw leaves a position worth starting
        again from (a task starts without history, as it starts without earlier repetitions)."""
        board = chess.Board(fen)
        if board.is_game_over(claim_draw=False):
            return
        board.halfmove_clock = 0
        fen = board.fen()
        self.seen += 1
        if len(self.fens) < self.capacity:
            self.fens.append(fen)
        else:
            j = rng.randrange(self.seen)
            if j < self.capacity:
                self.fens[j] = fen

    def sample(self, rng: random.Random) -> chess.Board:
        if not self.fens:
            if not self._warned:
                log.info("rollouts source: no rollout positions yet; using random play meanwhile")
                self._warned = True
            return self.fallback.sample(rng)
        return chess.Board(rng.choice(self.fens))


class LadderGamesSource:
    """Positions from the run's evaluation games (`games.pgn` in the run directory), re-read when it grows."""

    def __init__(self, run_dir: Path | None, fallback: PositionSource, max_positions: int = 5000) -> None:
        self.path = Path(run_dir) / "games.pgn" if run_dir else None
        self.fallback, self.max_positions = fallback, max_positions
        self.fens: list[str] = []
        self._size = -1
        self._warned = False

    def _refresh(self) -> None:
        if self.path is None or not self.path.is_file() or self.path.stat().st_size == self._size:
            return
        self._size = self.path.stat().st_size
        fens: list[str] = []
        with open(self.path) as handle:
            while len(fens) < self.max_positions:
                game = chess.pgn.read_game(handle)
                if game is None:
                    break
                board = game.board()
                for move in game.mainline_moves():
                    board.push(move)
                    if not board.is_game_over(claim_draw=False):
                        fens.append(board.fen())
        self.fens = fens

    def sample(self, rng: random.Random) -> chess.Board:
        self._refresh()
        if not self.fens:
            if not self._warned:
                log.info("ladder_games source: no evaluation games yet; using random play meanwhile")
                self._warned = True
            return self.fallback.sample(rng)
        return chess.Board(rng.choice(self.fens))


class FileSource:
    """Tasks read from an EPD/FEN file; sampled uniformly (a fixed list when the pool is `fixed`)."""

    def __init__(self, path: str, defaults: dict[str, Any]) -> None:
        p = Path(path)
        if not p.is_absolute() and not p.is_file():
            p = CONF_DIR / "tasks" / path
        self.tasks = load_task_file(p, defaults)

    def sample_task(self, rng: random.Random) -> Task:
        return rng.choice(self.tasks)
