"""Building prompts from the templates in conf/prompts/: the history block, the current game, retries.

A prompt has three parts in a fixed order, so that everything before the current game is a stable prefix whose
key/value cache the backend can reuse: the system message, the history block (frozen while a player plays), and
the current game (its moves first, then the position, which change every move).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import chess

from bench.errors import BenchError
from bench.learners.icl.memory import GameRecord


@dataclass(frozen=True)
class Prompt:
    """What a backend is asked: a system message, one user message (history + current) and any later turns."""

    system: str
    history: str
    current: str
    turns: tuple[tuple[str, str], ...] = ()
    """(role, text) pairs after the user message: the model's illegal answers and the replies to them."""

    def messages(self) -> list[dict[str, str]]:
        """Chat messages for chat templates and chat endpoints."""
        msgs = [{"role": "system", "content": self.system}, {"role": "user", "content": self.history + self.current}]
        return msgs + [{"role": role, "content": text} for role, text in self.turns]

    def with_turns(self, *turns: tuple[str, str]) -> "Prompt":
        return Prompt(self.system, self.history, self.current, self.turns + tuple(turns))


MARKS = re.compile(r"[+#]")
"""Check and mate marks in SAN movetext (`check_marks=false` removes them)."""


def movetext(board: chess.Board) -> str:
    """The game so far in SAN with move numbers, from the start position (or the board's root)."""
    root = board.root()
    return root.variation_san(board.move_stack) if board.move_stack else ""


def outcome_for(result: str, color: chess.Color) -> str:
    """`win`, `loss` or `draw` for `color` given a PGN result."""
    if result == "1/2-1/2" or result == "*":
        return "draw"
    white_won = result == "1-0"
    return "win" if white_won == (color == chess.WHITE) else "loss"


class PromptBuilder:
    """Fills the templates of one `PromptConfig`; every field name a template uses is checked at start."""

    def __init__(self, templates: Any, show_legal: bool = False) -> None:
        self.t = templates
        self.show_legal = show_legal
        self._check()

    def _check(self) -> None:
        samples = {
            "history_game": dict(index=1, color="White", opponent="x", result="1-0", outcome="win", moves="1. e4",
                                 feedback=""),
            "feedback_line": dict(move_number="1.", played="e4", best="d4", drop="1.0"),
            "position": dict(color="White", moves="", fen="", legal=""),
            "legal": dict(moves="e4"),
            "retry": dict(answer="x", reason="y", legal="e4"),
            "answer": dict(move="e4"),
        }
        for name, fields in samples.items():
            try:
                str(getattr(self.t, name)).format(**fields)
            except (KeyError, IndexError, ValueError) as exc:
                raise BenchError(f"prompt template {name!r} uses an unknown field or bad braces ({exc!r}); "
                                 f"allowed fields: {', '.join(fields)}") from exc

    def game_text(self, record: GameRecord) -> str:
        """One past game for the history block, with its engine feedback if any."""
        feedback = ""
        if record.mistakes:
            lines = [self.t.feedback_line.format(move_number=m.move_number, played=self.mark(m.played),
                                                 best=self.mark(m.best), drop=f"{m.drop_cp / 100:.1f}")
                     for m in record.mistakes]
            feedback = self.t.feedback_header + "".join(lines)
        moves = record.moves if self.check_marks else MARKS.sub("", record.moves)
        return self.t.history_game.format(index=record.index, color=record.color, opponent=record.opponent,
                                          result=record.result, outcome=record.outcome, moves=moves,
                                          feedback=feedback)

    def history_text(self, records: list[GameRecord]) -> str:
        if not records:
            return ""
        return self.t.history_header + "".join(self.game_text(r) for r in records)

    @property
    def check_marks(self) -> bool:
        return bool(getattr(self.t, "check_marks", True))

    def mark(self, san: str) -> str:
        """`san` as the prompts write moves: without its check or mate mark when `check_marks` is false."""
        return san if self.check_marks else san.rstrip("+#")

    def san(self, board: chess.Board, move: chess.Move) -> str:
        """`move` in SAN as the prompts and answers write it (`mark`)."""
        return self.mark(board.san(move))

    def legal_sans(self, board: chess.Board) -> list[str]:
        return [self.san(board, m) for m in board.legal_moves]

    def current_text(self, board: chess.Board) -> str:
        legal = self.t.legal.format(moves=" ".join(self.legal_sans(board))) if self.show_legal else ""
        color = "White" if board.turn == chess.WHITE else "Black"
        moves = movetext(board) if self.check_marks else MARKS.sub("", movetext(board))
        return self.t.position.format(color=color, moves=moves or "(no moves yet)", fen=board.fen(), legal=legal)

    def prompt(self, history: str, board: chess.Board) -> Prompt:
        return Prompt(self.t.system, history, self.current_text(board))

    def answer(self, san: str) -> str:
        return self.t.answer.format(move=san)

    def retry(self, answer: str, reason: str, board: chess.Board) -> str:
        return self.t.retry.format(answer=answer.strip()[:80], reason=reason, legal=" ".join(self.legal_sans(board)))


__all__ = ["Prompt", "PromptBuilder", "movetext", "outcome_for"]
