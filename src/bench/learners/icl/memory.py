"""What the icl learner remembers of its training games, and which of them fit in the prompt.

A `GameRecord` is one finished training game: its moves, result and (with engine feedback) the model's worst
moves. A `Memory` decides how records shape later play. `ContextMemory` (memory=context, the default) keeps them
as text in the prompt under a token budget. Issue 8's `memory=lora` fits the same protocol: its `add` would
train an adapter on the record and its `prompt_games` return nothing (or, for `both`, the context selection),
with the adapter in `state_dict`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Protocol

from bench.errors import BenchError


@dataclass(frozen=True)
class Mistake:
    """One of the model's moves that the engine judged costly."""

    ply: int
    """Index of the move in the game (0 = White's first move)."""
    move_number: str
    """As written in PGN: `12.` for White, `12...` for Black."""
    played: str
    """The model's move, SAN."""
    best: str
    """The engine's best move in that position, SAN."""
    drop_cp: int
    """Centipawns the played move lost against the best one, from the model's side (mates count 10,000)."""


@dataclass(frozen=True)
class GameRecord:
    """A finished training game as the model will read it."""

    index: int
    """1-based number of the training game."""
    color: str
    """`White` or `Black`: the model's side."""
    opponent: str
    result: str
    """PGN result, e.g. `1-0`."""
    outcome: str
    """From the model's side: `win`, `loss` or `draw`."""
    moves: str
    """The movetext in SAN with move numbers."""
    plies: int
    termination: str = ""
    mistakes: tuple[Mistake, ...] = ()
    """Engine verdicts shown in the history block (feedback=engine only)."""
    start_fen: str = ""
    """The position the game started from ("" for the standard start): with `uci`, replays the game's positions."""
    uci: str = ""
    """The moves in UCI, space-separated (never shown to the model; the LoRA memory trains on the positions)."""
    lesson: tuple[Mistake, ...] = ()
    """Engine verdicts a LoRA adapter trains on (memory=lora|both, objective=supervised); never shown."""

    @property
    def instructive(self) -> int:
        """How much the listed mistakes cost in total (centipawns): the `keep_instructive` ranking."""
        return sum(m.drop_cp for m in self.mistakes)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "GameRecord":
        mistakes = tuple(Mistake(**m) for m in data.get("mistakes", ()))
        lesson = tuple(Mistake(**m) for m in data.get("lesson", ()))
        return cls(**{**data, "mistakes": mistakes, "lesson": lesson})


class Memory(Protocol):
    """How past games shape the model's play."""

    def add(self, record: GameRecord) -> None:
        """Take in one finished training game."""
        ...

    def prompt_games(self) -> list[GameRecord]:
        """The records to show in the prompt now, oldest first."""
        ...

    def info(self) -> dict[str, Any]:
        ...

    def state_dict(self) -> dict[str, Any]:
        ...

    def load_state_dict(self, state: dict[str, Any]) -> None:
        ...


@dataclass
class ContextMemory:
    """Every record is kept; the prompt shows those that fit in `budget_tokens` (and `max_games`, if > 0).

    `drop_oldest` shows the newest games that fit, contiguous back from the last one. `keep_instructive` ranks
    games by what their listed mistakes cost (newest first among equals) and fills the budget greedily, so a
    short instructive game may still fit where a long one does not. Shown games keep their chronological order.
    """

    render: Callable[[GameRecord], str]
    """The text of one record in the history block (prompts.PromptBuilder.game_text)."""
    count_tokens: Callable[[str], int]
    budget_tokens: int
    max_games: int = 0
    overflow: str = "drop_oldest"
    records: list[GameRecord] = field(default_factory=list)
    _tokens: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.overflow not in ("drop_oldest", "keep_instructive"):
            raise BenchError(f"learner.overflow={self.overflow!r}; choose drop_oldest or keep_instructive")
        if self.budget_tokens < 0:
            raise BenchError(f"learner.context_tokens={self.budget_tokens}; it must be >= 0")

    def add(self, record: GameRecord) -> None:
        self.records.append(record)
        self._tokens.append(self.count_tokens(self.render(record)))

    def _selected(self) -> list[int]:
        order = list(range(len(self.records)))[::-1]  # newest first
        if self.overflow == "keep_instructive":
            order.sort(key=lambda i: -self.records[i].instructive)  # stable: newest first among equals
        chosen, used = [], 0
        for i in order:
            if self.max_games and len(chosen) >= self.max_games:
                break
            if used + self._tokens[i] > self.budget_tokens:
                if self.overflow == "drop_oldest":
                    break
                continue
            chosen.append(i)
            used += self._tokens[i]
        return sorted(chosen)

    def prompt_games(self) -> list[GameRecord]:
        return [self.records[i] for i in self._selected()]

    def info(self) -> dict[str, Any]:
        chosen = self._selected()
        return {
            "games_played": len(self.records),
            "games_in_context": len(chosen),
            "history_tokens": sum(self._tokens[i] for i in chosen),
            "games_dropped": len(self.records) - len(chosen),
        }

    def state_dict(self) -> dict[str, Any]:
        return {"kind": "context", "records": [r.to_dict() for r in self.records]}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.records, self._tokens = [], []
        for data in state["records"]:
            self.add(GameRecord.from_dict(data))


__all__ = ["ContextMemory", "GameRecord", "Memory", "Mistake"]
