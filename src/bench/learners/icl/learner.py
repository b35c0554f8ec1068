"""The icl learner: a language model that learns chess in context (memory=context: nothing in its weights changes),
or in a per-run LoRA adapter trained after every game (memory=lora, or both; lora.py).

Read top to bottom:
1. `__init__` opens the backend (`llm=` group), the prompt templates and the memory.
2. `improve()` plays one training game against the configured rung, with the history so far in the prompt,
   optionally asks Stockfish for the model's worst moves, and adds the game to the memory (memory=lora|both:
   which trains the adapter on the game's lesson and reports its measured training FLOPs). It reports to the
   compute meter: one episode (a game), the model's moves (`positions`), its model calls (`forward_passes`), the
   tokens, the inference FLOPs (measured over the actual context, player.py), and the Stockfish nodes searched for
   it (the opponent's moves, from the game's node count, and the feedback analyses, as the engine reported them).
3. `make_player()` freezes the history as it is now into a player; the run loop rates that player.
4. `eval_info()` reports what was in context, what the evaluation's moves cost (illegal answers, retries,
   forfeits, tokens, dollars from the cost model), how FLOPs are counted and the knowledge beyond the rules of chess
   the learning used (`outside_knowledge`).
"""

from __future__ import annotations

import logging
import threading
from typing import Any

import chess
import chess.engine
import chess.pgn

from bench.errors import BenchError
from bench.games import GameRules, load_openings, play_game, thread_only
from bench.learners import LearnerContext
from bench.learners.icl.backends import open_backend
from bench.learners.icl.config import FEEDBACKS, MEMORIES, MODES, OBJECTIVES
from bench.learners.icl.feedback import worst_moves
from bench.learners.icl.memory import ContextMemory, GameRecord, Memory
from bench.learners.icl.player import IclPlayer, PlaySettings, Tally, flops_method
from bench.learners.icl.prompts import PromptBuilder, outcome_for
from bench.players import EngineFailure, EngineSettings, Player, RandomPlayer, StockfishPlayer, open_engine

log = logging.getLogger("bench.icl")

TRAIN_PGN = "icl_training_games.pgn"
"""Training games (with the model's feedback as comments) are appended here in the run directory."""
ANSWER_BUDGET = 512
"""Tokens kept free in the model's window for the current game and the answer, beyond the history budget."""


def _check(cfg: Any) -> None:
    for field, value, allowed in (("mode", cfg.mode, MODES), ("memory", cfg.memory, MEMORIES),
                                  ("feedback", cfg.feedback, FEEDBACKS),
                                  ("score_norm", cfg.score_norm, ("sum", "mean")),
                                  ("lora.objective", cfg.lora.objective, OBJECTIVES)):
        if value not in allowed:
            raise BenchError(f"learner.{field}={value!r}; choose one of {', '.join(allowed)}")
    if cfg.max_plies < 2:
        raise BenchError(f"learner.max_plies={cfg.max_plies}; it must be at least 2")
    if cfg.max_retries < 0 or cfg.temperature < 0:
        raise BenchError("learner.max_retries and learner.temperature must be >= 0")


class NodeCountingEngine:
    """A Stockfish engine whose analyses add the nodes it reports to `nodes` (feedback's engine work)."""

    def __init__(self, engine: chess.engine.SimpleEngine) -> None:
        self.engine = engine
        self.nodes = 0

    def analyse(self, board: chess.Board, limit: chess.engine.Limit, **kwargs: Any) -> Any:
        info = self.engine.analyse(board, limit, **kwargs)
        self.nodes += int(info.get("nodes", 0))
        return info

    def quit(self) -> None:
        self.engine.quit()


def engine_opponent(name: str, rungs: list[Any]) -> bool:
    """Whether the training opponent `name` is a Stockfish rung (rather than the random mover)."""
    return any(rung.name == name and rung.kind != "random" for rung in rungs)


def build_opponent(name: str, rungs: list[Any], stockfish: Any, seed: int) -> Player:
    """The training opponent: the rung called `name` (a random mover for `random` when no rung has that name)."""
    for rung in rungs:
        if rung.name == name:
            if rung.kind == "random":
                return RandomPlayer(name=name, seed=seed)
            settings = EngineSettings(nodes=rung.nodes, depth=rung.depth, movetime=rung.movetime,
                                      skill_level=rung.skill_level, uci_elo=rung.uci_elo, epsilon=rung.epsilon)
            return StockfishPlayer(name, settings, stockfish.path if stockfish else None,
                                   threads=int(stockfish.threads) if stockfish else 1,
                                   hash_mb=int(stockfish.hash_mb) if stockfish else 16,
                                   move_timeout=float(stockfish.move_timeout) if stockfish else 30.0)
    if name == "random":
        return RandomPlayer(name="random", seed=seed)
    raise BenchError(f"learner.opponent={name!r} is not a rung of this ladder; choose one of "
                     f"{', '.join(str(r.name) for r in rungs) or 'random'}")


class IclLearner:
    """In-context learning: each training game joins the prompt of every later move."""

    name = "icl"

    def __init__(self, cfg: Any, context: LearnerContext) -> None:
        _check(cfg)
        self.cfg = cfg
        self.context = context
        self.openings = load_openings(str(cfg.openings))
        self.rules = GameRules(max_plies=int(cfg.max_plies), adjudicate=False)
        self.builder = PromptBuilder(cfg.prompts, bool(cfg.show_legal))
        self.backend = open_backend(context.llm)
        if cfg.mode == "score" and not self.backend.can_score:
            raise BenchError(f"{self.backend.name} cannot score moves (no logits); set learner.mode=generate")
        if int(cfg.context_tokens) + ANSWER_BUDGET > self.backend.context_window:
            raise BenchError(f"learner.context_tokens={cfg.context_tokens} leaves no room in the model's window of "
                             f"{self.backend.context_window} tokens; lower it below "
                             f"{self.backend.context_window - ANSWER_BUDGET}")
        llm = context.llm
        self.memory = self._memory()
        self.settings = PlaySettings(mode=str(cfg.mode), temperature=float(cfg.temperature),
                                     score_norm=str(cfg.score_norm), score_end=bool(cfg.score_end), max_retries=int(cfg.max_retries),
                                     max_answer_tokens=int(cfg.max_answer_tokens),
                                     dollars_per_mtok_in=float(llm.dollars_per_mtok_in),
                                     dollars_per_mtok_out=float(llm.dollars_per_mtok_out))
        self.train_tally, self.eval_tally = Tally(), Tally()
        self.games = 0
        self.feedback_calls = 0
        self.feedback_nodes = 0
        self.opponent_nodes = 0
        context.meter.set_episode_kind("games")
        self.players_made = 0
        self._lock = threading.Lock()
        self._opponent: Player | None = None
        self._engine: NodeCountingEngine | None = None

    def _memory(self) -> Memory:
        cfg = self.cfg
        text = ContextMemory(render=self.builder.game_text, count_tokens=self.backend.count_tokens,
                             budget_tokens=int(cfg.context_tokens), max_games=int(cfg.max_games),
                             overflow=str(cfg.overflow))
        if cfg.memory == "context":
            return text
        from bench.learners.icl.lora import LoraMemory

        return LoraMemory(text, self.backend, self.builder, cfg.lora, show_history=cfg.memory == "both",
                          end=bool(cfg.score_end), seed=self.context.seed,
                          report_flops=self.context.meter.add_train_flops)

    @property
    def _lesson_moves(self) -> int:
        """Engine verdicts the LoRA adapter trains on per game (0 unless memory=lora|both, objective=supervised)."""
        if self.cfg.memory == "context" or self.cfg.lora.objective != "supervised":
            return 0
        return int(self.cfg.lora.lesson_moves)

    # -- learning ---------------------------------------------------------------------------------------------
    def improve(self) -> None:
        """Play one training game with the current history in context, then remember it."""
        color = chess.WHITE if self.games % 2 == 0 else chess.BLACK
        opening = self.openings[(self.games // 2) % len(self.openings)]
        seed = self.context.seed * 1_000_003 + self.games
        before = self.train_tally.snapshot()
        model = self._player(self.train_tally, seed, name="icl")
        for attempt in range(3):
            opponent = self._opponent_player()
            white, black = (model, opponent) if color == chess.WHITE else (opponent, model)
            try:
                game = play_game(white, black, opening, self.rules, None, seed,
                                 {"Event": "icl training", "Round": str(self.games + 1)})
                break
            except EngineFailure as exc:  # the opponent's engine died: restart it and replay the game
                log.warning("training game %d: %s; replaying", self.games + 1, exc)
                self._close_opponent()
                if attempt == 2:
                    raise BenchError(f"training game {self.games + 1} failed three times: {exc}") from exc
        record = self._record(game, color, opponent.name)
        self.memory.add(record)
        self.games += 1
        self._append_pgn(game, record)
        after = self.train_tally.snapshot()
        opponent_side = "Black" if color == chess.WHITE else "White"
        opponent_nodes = int(game.headers.get(f"{opponent_side}Nodes", 0))
        self.opponent_nodes += opponent_nodes
        meter = self.context.meter
        meter.add_samples("games", 1)
        meter.add_samples("positions", after["moves"] - before["moves"])
        meter.add_samples("forward_passes", after["calls"] - before["calls"])
        meter.add_samples("tokens", (after["tokens_in"] - before["tokens_in"]) + (after["tokens_out"] - before["tokens_out"]))
        meter.add_infer_flops(after["flops"] - before["flops"])
        meter.add_engine_nodes(opponent_nodes, new_games=int(opponent_nodes > 0))  # a new game key per game

    def _record(self, game: chess.pgn.Game, color: chess.Color, opponent: str) -> GameRecord:
        moves = list(game.mainline_moves())
        board = game.board()
        result = game.headers.get("Result", "*")
        found: list = []
        shown = int(self.cfg.feedback_moves) if self.cfg.feedback == "engine" else 0
        if shown or self._lesson_moves:  # one engine pass serves the prompt's feedback and the adapter's lesson
            if self._engine is None:
                self._engine = NodeCountingEngine(open_engine(self.context.stockfish.path if self.context.stockfish
                                                              else None))
                self.context.meter.add_engine_nodes(0, starts=1)
            nodes = self._engine.nodes
            found, calls = worst_moves(self._engine, moves, color,  # type: ignore[arg-type]
                                       int(self.cfg.feedback_nodes), max(shown, self._lesson_moves),
                                       int(self.cfg.min_drop_cp), start=board)
            self.feedback_calls += calls
            self.feedback_nodes += self._engine.nodes - nodes
            self.context.meter.add_verifier_calls(calls)
            self.context.meter.add_engine_nodes(self._engine.nodes - nodes, new_games=1)  # worst_moves: one game key
        start_fen = "" if board.fen() == chess.STARTING_FEN else board.fen()
        return GameRecord(index=self.games + 1, color="White" if color == chess.WHITE else "Black", opponent=opponent,
                          result=result, outcome=outcome_for(result, color), moves=board.variation_san(moves),
                          plies=len(moves), termination=game.headers.get("Termination", ""),
                          mistakes=tuple(found[:shown]), start_fen=start_fen, uci=" ".join(m.uci() for m in moves),
                          lesson=tuple(found[:self._lesson_moves]))

    def _append_pgn(self, game: chess.pgn.Game, record: GameRecord) -> None:
        if self.context.run_dir is None:
            return
        for m in record.mistakes:
            game.headers[f"Mistake{m.ply}"] = f"{m.move_number} {m.played} best {m.best} drop {m.drop_cp}cp"
        with open(self.context.run_dir / TRAIN_PGN, "a", encoding="utf-8") as fh:
            print(game, file=fh, end="\n\n")

    # -- playing ----------------------------------------------------------------------------------------------
    def _player(self, tally: Tally, seed: int, name: str) -> IclPlayer:
        history = self.builder.history_text(self.memory.prompt_games())
        version = getattr(self.backend, "weights_version", None) if self.cfg.memory != "context" else None
        return IclPlayer(name, self.backend, self.builder, history, self.settings, tally, seed=seed,
                         weights_version=version)

    @thread_only
    def make_player(self) -> IclPlayer:
        """A player with the history (and adapter) frozen as it is now; players share the backend. The adapter only
        changes inside `improve()`, and a player refuses to move once it has (IclPlayer.weights_version). Evaluation
        games play in threads of this process (`thread_only`): players share the loaded model, its prefix cache and
        the evaluation tally that `eval_info()` reports."""
        with self._lock:
            self.players_made += 1
            return self._player(self.eval_tally, self.context.seed + self.players_made, name="icl")

    def _opponent_player(self) -> Player:
        if self._opponent is None:
            self._opponent = build_opponent(str(self.cfg.opponent), list(self.context.rungs), self.context.stockfish,
                                            self.context.seed)
            if isinstance(self._opponent, StockfishPlayer):
                self.context.meter.add_engine_nodes(0, starts=1)
        return self._opponent

    # -- records ----------------------------------------------------------------------------------------------
    def outside_knowledge(self) -> list[str]:
        """Knowledge beyond the rules of chess this learner's learning uses (names from compute.OUTSIDE_KNOWLEDGE)."""
        used = ["pretrained model"]
        if engine_opponent(str(self.cfg.opponent), list(self.context.rungs)):
            used.append("engine opponent")
        if self.cfg.feedback == "engine" and int(self.cfg.feedback_moves) > 0 and self.cfg.memory != "lora":
            used.append("engine feedback")
        if self._lesson_moves:
            used.append("engine targets")
        return used

    def eval_info(self) -> dict[str, Any]:
        """Context size now, the moves of the evaluation just played (then reset), and training totals."""
        info = self.memory.info()
        info.update(self._state_per_token(info))
        return {
            "backend": self.backend.name,
            "parameters": self.backend.parameters,
            "mode": str(self.cfg.mode),
            "memory": str(self.cfg.memory),
            "outside_knowledge": self.outside_knowledge(),
            "flops_method": flops_method(self.backend),
            **info,
            "feedback_calls": self.feedback_calls,
            "feedback_nodes": self.feedback_nodes,
            "opponent_nodes": self.opponent_nodes,
            "eval": self.eval_tally.take(),
            "train": self.train_tally.snapshot(),
            **({"http": dict(self.backend.stats)} if hasattr(self.backend, "stats") else {}),
        }

    def _state_per_token(self, info: dict[str, Any]) -> dict[str, Any]:
        """The seed's arithmetic: bytes of per-run state every new token's forward pass reads. A history in context
        is read as its keys and values (history tokens x KV bytes per token); an adapter is read whole."""
        if not hasattr(self.backend, "kv_bytes_per_token"):
            return {}
        kv = self.backend.kv_bytes_per_token()
        context_bytes = int(info.get("history_tokens", 0)) * kv
        adapter = int(info.get("adapter_bytes", 0))
        log.info("icl memory=%s: state read per token %s bytes (adapter %s + history %s tokens x %s KV bytes)",
                 self.cfg.memory, f"{context_bytes + adapter:,}", f"{adapter:,}", info.get("history_tokens", 0),
                 f"{kv:,}")
        return {"kv_bytes_per_token": kv, "state_bytes_per_token": context_bytes + adapter}

    def state_dict(self) -> dict[str, Any]:
        return {"games": self.games, "memory": self.memory.state_dict(), "train": self.train_tally.snapshot(),
                "feedback_calls": self.feedback_calls, "feedback_nodes": self.feedback_nodes,
                "opponent_nodes": self.opponent_nodes}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.games = int(state["games"])
        self.memory.load_state_dict(state["memory"])
        self.train_tally.load(state["train"])
        self.feedback_calls = int(state.get("feedback_calls", 0))
        self.feedback_nodes = int(state.get("feedback_nodes", 0))
        self.opponent_nodes = int(state.get("opponent_nodes", 0))

    def _close_opponent(self) -> None:
        if self._opponent is not None:
            try:
                self._opponent.close()
            finally:
                self._opponent = None

    def close(self) -> None:
        self._close_opponent()
        if self._engine is not None:
            try:
                self._engine.quit()
            except Exception:
                pass
            self._engine = None
        self.backend.close()


__all__ = ["IclLearner", "build_opponent"]
