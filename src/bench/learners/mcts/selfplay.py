"""Self-play: many games stepped in lockstep, one batched search per ply, samples out in compact form.

Each `play(plies)` advances every game by `plies` moves; finished games hand back their positions with the
outcome from each mover's view and restart. Options: playout-cap randomisation (full searches with noise are
recorded, fast ones are not; KataGo, Wu 2019, sec. 3.1), a ply cap with material or draw adjudication, and
resignation with a share of games played out to measure its false positives (AlphaZero / AlphaGo Zero).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import chess
import numpy as np

from bench.encoding import COMPACT_WORDS, compact_board
from bench.learners.mcts.replay import top_k_policy
from bench.learners.mcts.search import (
    BatchedSearch, Evaluator, SearchConfig, SearchJob, SearchNode, advance, choose_move, completed_q_policy,
)

PIECE_VALUES = {chess.PAWN: 1, chess.KNIGHT: 3, chess.BISHOP: 3, chess.ROOK: 5, chess.QUEEN: 9}


def material(board: chess.Board) -> int:
    """White's material minus Black's, in pawns (P=1, N=B=3, R=5, Q=9)."""
    total = 0
    for piece, value in PIECE_VALUES.items():
        bb = board.pieces_mask(piece, chess.WHITE), board.pieces_mask(piece, chess.BLACK)
        total += value * (chess.popcount(bb[0]) - chess.popcount(bb[1]))
    return total


def adjudicate(board: chess.Board, rule: str, margin: int) -> float:
    """Result for White at the ply cap: +1, 0 or -1."""
    if rule == "draw":
        return 0.0
    if rule != "material":
        raise ValueError(f"unknown adjudication {rule!r}; use material or draw")
    diff = material(board)
    return float(np.sign(diff)) if abs(diff) >= margin else 0.0


ENDGAME_PIECES = (chess.QUEEN, chess.ROOK, chess.ROOK, chess.BISHOP, chess.KNIGHT, chess.PAWN, chess.PAWN, chess.PAWN)
"""What a random endgame's pieces are drawn from (with replacement): pawns and rooks more often, as in real endings."""


def random_endgame(rng: np.random.Generator, max_pieces: int) -> chess.Board:
    """A legal position with the two kings and, for each side independently, 0 to `max_pieces` other pieces drawn
    from `ENDGAME_PIECES`, on random squares (no pawn on the first or last rank), either side to move, not over.

    Games from such positions end by the rules within a few dozen plies far more often than games from the opening:
    they are where a small net sees checkmates (and stalemates, and bare kings) delivered and learns what they are
    worth, the last step of every won game, which capped opening-length self-play games rarely reach."""
    while True:
        board = chess.Board(None)
        squares = [int(s) for s in rng.permutation(64)]
        board.set_piece_at(squares.pop(), chess.Piece(chess.KING, chess.WHITE))
        board.set_piece_at(squares.pop(), chess.Piece(chess.KING, chess.BLACK))
        for color in (chess.WHITE, chess.BLACK):
            for _ in range(int(rng.integers(0, max_pieces + 1))):
                piece = ENDGAME_PIECES[int(rng.integers(len(ENDGAME_PIECES)))]
                while piece == chess.PAWN and chess.square_rank(squares[-1]) in (0, 7):
                    squares.insert(0, squares.pop())  # a pawn goes on the next square that is not a back rank
                board.set_piece_at(squares.pop(), chess.Piece(piece, color))
        board.turn = bool(rng.integers(2))
        if board.is_valid() and not board.is_game_over(claim_draw=False):
            return board


@dataclass
class _Game:
    board: chess.Board
    root: SearchNode
    history: Counter
    check_resign: bool
    """True for games played out despite a resign signal (the false-positive sample)."""
    rows: list = field(default_factory=list)
    policy_index: list = field(default_factory=list)
    policy_prob: list = field(default_factory=list)
    movers: list = field(default_factory=list)
    root_q: list = field(default_factory=list)
    streak: dict = field(default_factory=lambda: {chess.WHITE: 0, chess.BLACK: 0})
    would_resign: chess.Color | None = None
    full: bool = False
    sims: int = 0
    job: SearchJob | None = None


class SelfPlay:
    """Lockstep self-play of `games` games with one evaluator; `play` returns samples and statistics."""

    def __init__(self, evaluator: Evaluator, cfg: Any, rng: np.random.Generator) -> None:
        self.cfg = cfg
        self.rng = rng
        self.search = BatchedSearch(
            evaluator,
            SearchConfig(
                c_puct=cfg.c_puct, dirichlet_alpha=cfg.dirichlet_alpha, dirichlet_eps=cfg.dirichlet_eps, fpu=cfg.fpu,
                fpu_reduction=getattr(cfg, "fpu_reduction", None),
                ply_cap=cfg.max_plies if getattr(cfg, "search_sees_cap", False) else 0, cap_value=self._cap_value,
                scan=getattr(cfg, "scan", "none"), contempt=float(getattr(cfg, "contempt", 0.0)),
                root_width=bool(getattr(cfg, "root_width", False)),
            ),
            rng,
        )
        self.games = [self._new_game() for _ in range(cfg.games_per_worker)]
        for game in self.games:
            self._start_search(game)

    def _cap_value(self, board: chess.Board) -> float:
        """The adjudicated result of a capped position, for its side to move."""
        white = adjudicate(board, self.cfg.adjudication, self.cfg.material_margin)
        return white if board.turn == chess.WHITE else -white

    def _new_game(self) -> _Game:
        board = self._start_position()
        root = SearchNode.root(board)
        check = self.cfg.resign_enabled and self.rng.random() < self.cfg.resign_check_fraction
        return _Game(board=board, root=root, history=Counter([root.key]), check_resign=check)

    def _start_position(self) -> chess.Board:
        """With probability `start_endgame_prob` a random endgame (`random_endgame`), else `_opening_start`."""
        prob = float(getattr(self.cfg, "start_endgame_prob", 0.0))
        if prob > 0 and self.rng.random() < prob:
            return random_endgame(self.rng, int(getattr(self.cfg, "endgame_max_pieces", 4)))
        return self._opening_start()

    def _opening_start(self) -> chess.Board:
        """The initial position, or with `start_random_plies` > 0 the position after a uniformly random number
        (0 to that many) of uniformly random legal moves, renumbered as move 1 so that the ply cap, the
        temperature schedule and the statistics count the self-play game's own plies. Games that start from
        varied positions see the material imbalances and middlegames that short games from the initial
        position never reach, and which the evaluation's long games are made of."""
        board = chess.Board()
        limit = int(getattr(self.cfg, "start_random_plies", 0))
        if limit <= 0:
            return board
        while True:
            board = chess.Board()
            for _ in range(int(self.rng.integers(0, limit + 1))):
                moves = list(board.legal_moves)
                board.push(moves[int(self.rng.integers(len(moves)))])
                if board.is_game_over():
                    break
            if not board.is_game_over(claim_draw=False):
                start = chess.Board(board.fen())  # no move stack: repetitions count from here
                start.fullmove_number = 1
                return start

    def _start_search(self, game: _Game) -> None:
        """Playout-cap randomisation: a full search (noised, recorded) with probability `full_search_prob`."""
        game.full = bool(self.rng.random() < self.cfg.full_search_prob)
        game.sims = self.cfg.simulations if game.full else self.cfg.fast_simulations
        game.job = SearchJob(game.root, game.history, game.sims, noise=game.full)

    def play(self, plies: int) -> dict[str, Any]:
        """Play about `plies` moves per game (in total `plies * games` moves); return finished games' samples
        (numpy arrays) and counters. Searches are stepped together; a game whose search is done moves at once
        and starts its next search, so every step's batch holds one leaf from every game."""
        cfg = self.cfg
        out: dict[str, list] = {"planes": [], "policy_index": [], "policy_prob": [], "outcome": [], "root_q": []}
        stats: Counter = Counter()
        results: list[float] = []
        made, target = 0, plies * len(self.games)
        while made < target:
            self.search.step([g.job for g in self.games])
            for i, game in enumerate(self.games):
                if not game.job.done:
                    continue
                made += 1
                result = self._move(game, stats)
                if result is not None:
                    self._emit(game, result, out, stats)
                    results.append(result)
                    game = self.games[i] = self._new_game()
                self._start_search(game)
        samples = {
            "planes": np.concatenate(out["planes"]) if out["planes"] else np.zeros((0, COMPACT_WORDS), np.uint64),
            "policy_index": np.concatenate(out["policy_index"]) if out["policy_index"]
            else np.zeros((0, cfg.policy_top_k), np.uint16),
            "policy_prob": np.concatenate(out["policy_prob"]) if out["policy_prob"]
            else np.zeros((0, cfg.policy_top_k), np.float16),
            "outcome": np.concatenate(out["outcome"]) if out["outcome"] else np.zeros(0, np.int8),
            "root_q": np.concatenate(out["root_q"]) if out["root_q"] else np.zeros(0, np.float16),
        }
        return {"samples": samples, "stats": dict(stats), "results": results}

    def _move(self, game: _Game, stats: Counter) -> float | None:
        """Record the finished search (if full), play its move; White's result if the game ended."""
        cfg = self.cfg
        root = game.root
        mover = game.board.turn
        stats["simulations"] += game.sims
        stats["positions"] += 1
        if game.full:
            if cfg.policy_target == "completed_q":
                target = completed_q_policy(root, game.job.priors(), cfg.completed_q_visit, cfg.completed_q_scale)
            else:
                target = root.child_n
            idx, prob = top_k_policy(root.indices, target, cfg.policy_top_k)
            game.rows.append(compact_board(root.board, root.reps))
            game.policy_index.append(idx)
            game.policy_prob.append(prob)
            game.movers.append(mover)
            game.root_q.append(root.q())
        result = self._resign(game, mover, game.full)
        if result is not None:
            stats["resigned"] += 1
            return result
        temperature = 1.0 if game.board.ply() < cfg.temperature_plies else 0.0
        priors = game.job.priors() if root.priors is not None else None
        action = choose_move(root, priors, bool(getattr(cfg, "root_width", False)), temperature, self.rng,
                             (cfg.completed_q_visit, cfg.choice_q_scale))
        game.board.push(root.moves[action])
        game.root = advance(root, action, game.history)
        return self._finished(game, stats)

    def _resign(self, game: _Game, mover: chess.Color, full: bool) -> float | None:
        """White's result if `mover` resigns now, else None (games marked `check_resign` only note the signal)."""
        if not self.cfg.resign_enabled or not full:
            return None
        game.streak[mover] = game.streak[mover] + 1 if game.root.q() < self.cfg.resign_threshold else 0
        if game.streak[mover] < self.cfg.resign_plies:
            return None
        if game.check_resign:
            if game.would_resign is None:
                game.would_resign = mover
            return None
        return -1.0 if mover == chess.WHITE else 1.0

    def _finished(self, game: _Game, stats: Counter) -> float | None:
        """White's result when the game is over by the rules or the ply cap, else None."""
        root, board = game.root, game.board
        if not root.moves:
            if board.is_check():
                stats["mates"] += 1
                return 1.0 if board.turn == chess.BLACK else -1.0
            stats["draws_by_rule"] += 1
            return 0.0
        if board.is_insufficient_material():
            stats["draws_by_rule"] += 1
            return 0.0
        if root.reps >= 2 or board.halfmove_clock >= 100:
            stats["draws_by_rule"] += 1
            if getattr(self.cfg, "shuffle_draws", "draw") == "material":
                stats["shuffle_draws_adjudicated"] += 1
                return adjudicate(game.board, "material", self.cfg.material_margin)
            return 0.0
        if board.ply() >= self.cfg.max_plies:  # (the search may have marked this root terminal with this value)
            stats["adjudicated"] += 1
            return adjudicate(game.board, self.cfg.adjudication, self.cfg.material_margin)
        return None

    def _emit(self, game: _Game, result: float, out: dict[str, list], stats: Counter) -> None:
        stats["games"] += 1
        stats["plies"] += game.board.ply()
        stats["white_wins" if result > 0 else "black_wins" if result < 0 else "draws"] += 1
        if game.would_resign is not None:
            stats["resign_checks"] += 1
            lost = result == (-1.0 if game.would_resign == chess.WHITE else 1.0)
            stats["resign_false_positives"] += int(not lost)
        if not game.rows:
            return
        signs = np.array([1 if m == chess.WHITE else -1 for m in game.movers], dtype=np.int8)
        out["planes"].append(np.stack(game.rows))
        out["policy_index"].append(np.stack(game.policy_index))
        out["policy_prob"].append(np.stack(game.policy_prob))
        out["outcome"].append((signs * int(result)).astype(np.int8))
        out["root_q"].append(np.asarray(game.root_q, dtype=np.float16))
