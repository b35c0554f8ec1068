"""Tasks of the rlvr learner and the EPD/FEN task-file format.

A task is a start position (the side to move is the learner), an opponent (a ladder rung), a horizon (learner
moves per rollout) and a verifier that scores a finished rollout. Task files hold one task per line:

    # comment
    6k1/5ppp/8/8/8/8/5PPP/R5K1 w - - bm Ra8#; id "m1.0001"; verifier "mate"; horizon 1;
    rnbqkbnr/pppppppp/8/8/4P3/8/PPPP1PPP/RNBQKBNR b KQkq - 0 1

EPD lines may carry the opcodes `bm` (known answers), `id`, `verifier`, `horizon` and `opponent`; anything not
given comes from the generator that reads the file. A malformed line is a `BenchError` naming file and line.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable

import chess

from bench.errors import BenchError

VERIFIERS = ("result", "mate", "material", "eval", "game", "capture")


@dataclass(frozen=True)
class Task:
    """One verifiable task: play `horizon` moves from `fen` against `opponent`; `verifier` scores the rollout."""

    fen: str
    """Start position; the side to move is the learner."""
    verifier: str
    """result | mate | material | eval | game | capture (see verifiers.py)."""
    horizon: int
    """Learner moves per rollout."""
    opponent: str
    """Rung name (or `random`, or `#i`) that replies to the learner's moves."""
    generator: str
    """Name of the generator that made the task (its config holds the verifier's parameters)."""
    task_id: str = ""
    answers: tuple[str, ...] = field(default_factory=tuple)
    """Known good moves in UCI (from an EPD `bm`), for reference only; the verifier decides the reward."""

    def board(self) -> chess.Board:
        return chess.Board(self.fen)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "answers": list(self.answers)}

    @staticmethod
    def from_dict(d: dict[str, Any]) -> "Task":
        return Task(**{**d, "answers": tuple(d.get("answers", ()))})


def _is_plain_fen(fields: list[str]) -> bool:
    return len(fields) == 6 and fields[4].isdigit() and fields[5].isdigit()


def parse_task_line(line: str, where: str, defaults: dict[str, Any]) -> Task:
    """One task from a FEN or EPD line; `where` (file:line) names the line in errors; `defaults` fill the rest."""
    text = line.strip()
    fields = text.split()
    ops: dict[str, Any] = {}
    try:
        if _is_plain_fen(fields):
            board = chess.Board(text)
        else:
            board, ops = chess.Board.from_epd(text)
    except ValueError as exc:  # python-chess raises ValueError subclasses for bad FEN/EPD/SAN
        raise BenchError(f"{where}: malformed FEN/EPD ({exc}): {text!r}") from exc
    if not board.is_valid():
        raise BenchError(f"{where}: illegal position ({board.status().name}): {text!r}")
    if board.is_game_over():
        raise BenchError(f"{where}: the game is already over in this position: {text!r}")
    verifier = str(ops.get("verifier", defaults["verifier"]))
    if verifier not in VERIFIERS:
        raise BenchError(f"{where}: unknown verifier {verifier!r} (expected one of {VERIFIERS}): {text!r}")
    try:
        horizon = int(ops.get("horizon", defaults["horizon"]))
    except (TypeError, ValueError) as exc:
        raise BenchError(f"{where}: horizon must be an integer: {text!r}") from exc
    if horizon < 1:
        raise BenchError(f"{where}: horizon must be at least 1: {text!r}")
    answers = tuple(m.uci() for m in ops.get("bm", []) or [])
    return Task(
        fen=board.fen(),
        verifier=verifier,
        horizon=horizon,
        opponent=str(ops.get("opponent", defaults["opponent"])),
        generator=str(defaults["generator"]),
        task_id=str(ops.get("id", where)),
        answers=answers,
    )


def load_task_file(path: str | Path, defaults: dict[str, Any]) -> list[Task]:
    """All tasks of an EPD/FEN file; blank lines and `#` comments are skipped. Errors name file and line."""
    p = Path(path)
    if not p.is_file():
        raise BenchError(f"task file {p} does not exist; give generators[i].path an EPD/FEN file (see conf/tasks/)")
    try:
        text = p.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise BenchError(f"task file {p} is not UTF-8 text (byte {exc.start}: {exc.reason}); save it as UTF-8") from exc
    tasks = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        tasks.append(parse_task_line(line, f"{p}:{number}", defaults))
    if not tasks:
        raise BenchError(f"task file {p} holds no tasks")
    return tasks


def write_epd(path: str | Path, boards: Iterable[tuple[chess.Board, dict[str, Any]]], header: str = "") -> int:
    """Write positions with EPD opcodes (e.g. bm, id) one per line; returns the number written."""
    lines = [f"# {h}" for h in header.splitlines()] if header else []
    written = 0
    for board, ops in boards:
        lines.append(board.epd(**ops))
        written += 1
    Path(path).write_text("\n".join(lines) + "\n")
    return written
