"""`python -m bench.uci learner=NAME checkpoint=PATH`: any learner's player as a UCI engine on stdin/stdout.

So a trained agent plugs into the tools chess players already use (cutechess, fastchess, GUIs, lichess bots).
Supported: `uci`, `isready`, `ucinewgame`, `position [startpos | fen F] [moves ...]`, `go` (with `nodes`,
`movetime`, `wtime`/`btime`/`winc`/`binc`, `depth`, `infinite`; a player exposing `set_search_limit(nodes,
seconds)` receives them, others play as configured), `stop`, `quit`. The search runs in a thread, so `isready`
and `stop` are answered while it thinks.
"""

from __future__ import annotations

import logging
import sys
import threading
from typing import IO, Any

import chess

from bench.cli import compose_or_exit, guarded
from bench.compute import ComputeMeter
from bench.errors import BenchError
from bench.learners import LearnerContext, learner_class
from bench.players import Player
from bench.results import load_checkpoint


def load_player(cfg: Any) -> tuple[Player, Any]:
    """Build the configured learner, load `cfg.checkpoint` into it, and return (its player, the learner)."""
    context = LearnerContext(meter=ComputeMeter(), seed=int(cfg.seed), runtime=cfg.runtime, stockfish=cfg.stockfish,
                             rungs=list(cfg.ladder.rungs), llm=cfg.get("llm"), run_dir=None, progress=False)
    learner = learner_class(cfg.learner.name)(cfg.learner, context)
    if cfg.checkpoint:
        state = load_checkpoint(cfg.checkpoint)
        saved = state.get("learner_name")
        if saved and saved != cfg.learner.name:
            raise BenchError(f"checkpoint {cfg.checkpoint} is a {saved} learner; pass learner={saved}")
        learner.load_state_dict(state["learner"])
    return learner.make_player(), learner


def search_limit(tokens: list[str], board: chess.Board) -> tuple[int | None, float | None]:
    """(nodes, seconds) from a `go` command's arguments; clock time is budgeted as 1/30 of the remaining + inc."""
    args: dict[str, float] = {}
    for key, value in zip(tokens, tokens[1:]):
        if key in ("nodes", "movetime", "wtime", "btime", "winc", "binc", "depth", "movestogo"):
            try:
                args[key] = float(value)
            except ValueError:
                continue
    seconds = args["movetime"] / 1000 if "movetime" in args else None
    clock, inc = ("wtime", "winc") if board.turn == chess.WHITE else ("btime", "binc")
    if seconds is None and clock in args:
        moves_to_go = max(1.0, args.get("movestogo", 30.0))
        seconds = max(0.01, (args[clock] / moves_to_go + args.get(inc, 0.0) * 0.8) / 1000)
    nodes = int(args["nodes"]) if "nodes" in args else None
    return nodes, seconds


class UciServer:
    """The UCI loop over any Player."""

    def __init__(self, player: Player, name: str, out: IO[str] = sys.stdout) -> None:
        self.player = player
        self.name = name
        self.out = out
        self.board = chess.Board()
        self.games = 0
        self.search: threading.Thread | None = None
        self.write_lock = threading.Lock()

    def send(self, line: str) -> None:
        with self.write_lock:
            self.out.write(line + "\n")
            self.out.flush()

    def serve(self, lines: IO[str] = sys.stdin) -> None:
        for raw in lines:
            if not self.handle(raw.strip()):
                break
        self.wait()

    def handle(self, line: str) -> bool:
        """Handle one command; False on `quit`."""
        tokens = line.split()
        if not tokens:
            return True
        command = tokens[0]
        if command == "uci":
            self.send(f"id name bench {self.name}")
            self.send("id author bench")
            self.send("uciok")
        elif command == "isready":
            self.send("readyok")
        elif command == "ucinewgame":
            self.wait()
            self.games += 1
            self.player.new_game(self.games)
        elif command == "position":
            self.wait()
            self.board = self.parse_position(tokens[1:])
        elif command == "go":
            self.wait()
            self.search = threading.Thread(target=self.go, args=(tokens[1:], self.board.copy()), daemon=True)
            self.search.start()
        elif command == "stop":
            self.wait()
        elif command == "quit":
            return False
        else:
            self.send(f"info string unknown command: {line[:80]}")
        return True

    def parse_position(self, tokens: list[str]) -> chess.Board:
        try:
            if tokens and tokens[0] == "startpos":
                board, rest = chess.Board(), tokens[1:]
            elif tokens and tokens[0] == "fen":
                end = tokens.index("moves") if "moves" in tokens else len(tokens)
                board, rest = chess.Board(" ".join(tokens[1:end])), tokens[end:]
            else:
                raise ValueError("expected startpos or fen")
            if rest and rest[0] == "moves":
                for uci in rest[1:]:
                    board.push_uci(uci)
            return board
        except ValueError as exc:
            self.send(f"info string bad position ({exc}); keeping the previous one")
            return self.board

    def go(self, tokens: list[str], board: chess.Board) -> None:
        if board.is_game_over():
            self.send("bestmove 0000")
            return
        nodes, seconds = search_limit(tokens, board)
        if hasattr(self.player, "set_search_limit"):
            self.player.set_search_limit(nodes, seconds)
        result = self.player.play(board)
        self.send(f"info nodes {result.nodes} time {int(result.seconds * 1000)}")
        self.send(f"bestmove {result.move.uci()}")

    def wait(self) -> None:
        if self.search is not None:
            self.search.join()
            self.search = None


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    cfg = compose_or_exit(list(sys.argv[1:] if argv is None else argv))

    def serve() -> None:
        player, learner = load_player(cfg)
        try:
            UciServer(player, str(cfg.learner.name)).serve()
        finally:
            player.close()
            learner.close()

    guarded(serve)


if __name__ == "__main__":
    main()
