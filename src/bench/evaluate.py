"""Adaptive evaluation: rate a player against the rungs that bracket its current estimate.

The games are played in rounds. Before each round the `eval.rungs` rungs nearest the estimate are chosen (at
least one on each side of it when the ladder allows); after it the estimate is refitted from every game so far
against the rungs' calibrated ratings. A player that beats the top rung in every game, or loses every game to
the random mover, is reported as off the ladder (`edge`), never silently clipped.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, Callable

import chess
import chess.pgn

from bench import elo
from bench.games import GameRules, GameSpec, MatchStats, load_openings, paired_specs, play_match, white_score
from bench.ladder import Calibration, Rung, make_rung_player
from bench.players import Player

log = logging.getLogger(__name__)

LEARNER_KEY = "learner"
PLAYER_STAT_FIELDS = ("Moves", "Nodes", "Flops", "TokensIn", "TokensOut", "Seconds", "Illegal", "Forfeits")


@dataclass
class Evaluation:
    """An evaluation's rating and everything it was computed from."""

    estimate: elo.Estimate
    edge: str | None
    """None, `above_top` (won every game against the top rung) or `below_floor` (lost every game to the floor)."""
    games: list[chess.pgn.Game]
    per_rung: dict[str, dict[str, float]]
    pentanomial: elo.Pentanomial | None
    match: MatchStats
    player: dict[str, float] = field(default_factory=dict)
    """The evaluated player's totals over its games: moves, nodes, flops, tokens, seconds, illegal, forfeits."""

    def record(self) -> dict[str, Any]:
        """The evaluation's part of a metrics.jsonl record."""
        penta = self.pentanomial
        return {
            "elo": self.estimate.elo,
            "elo_ci": [self.estimate.low, self.estimate.high],
            "elo_se": self.estimate.se,
            "edge": self.edge,
            "games": len(self.games),
            "rungs": self.per_rung,
            "pentanomial": None if penta is None else {
                "counts": list(penta.counts), "score": penta.score, "elo": penta.elo, "elo_ci": [penta.low, penta.high]},
            "player": self.player,
            "engine_restarts": self.match.engine_restarts,
            "events": self.match.events,
        }


def choose_bracket(estimate: float | None, rungs: list[Rung], calibration: Calibration, count: int) -> list[Rung]:
    """The `count` rungs nearest `estimate` with at least one on each side of it where the ladder allows."""
    ordered = sorted(rungs, key=lambda r: calibration.elo(r.name))
    if estimate is None:
        return ordered[:count]
    nearest = sorted(ordered, key=lambda r: abs(calibration.elo(r.name) - estimate))[:count]
    below = [r for r in ordered if calibration.elo(r.name) <= estimate]
    above = [r for r in ordered if calibration.elo(r.name) > estimate]
    chosen = {r.name for r in nearest}
    for side in (below[-1:], above[:1]):
        if side and side[0].name not in chosen and len(nearest) > 1:
            nearest = nearest[:-1] + side
            chosen = {r.name for r in nearest}
    return sorted(nearest, key=lambda r: calibration.elo(r.name))


def learner_side_scores(games: list[chess.pgn.Game], learner_name: str) -> list[tuple[str, float, str]]:
    """(rung, learner's score, pair id) for each game."""
    out = []
    for game in games:
        score = white_score(game.headers["Result"])
        if game.headers["White"] == learner_name:
            out.append((game.headers["Black"], score, game.headers.get("Pair", "")))
        else:
            out.append((game.headers["White"], 1.0 - score, game.headers.get("Pair", "")))
    return out


def fit_games(games: list[chess.pgn.Game], learner_name: str, calibration: Calibration,
              with_calibration_error: bool) -> elo.Estimate:
    scored = learner_side_scores(games, learner_name)
    ratings = [calibration.elo(rung) for rung, _, _ in scored]
    se = [calibration.ratings[rung].se for rung, _, _ in scored] if with_calibration_error else None
    return elo.fit_player(ratings, [s for _, s, _ in scored], opponent_se=se)


def pentanomial_of(games: list[chess.pgn.Game], learner_name: str) -> elo.Pentanomial | None:
    pairs: dict[tuple[str, str], list[float]] = defaultdict(list)
    for rung, score, pair in learner_side_scores(games, learner_name):
        pairs[(rung, pair)].append(score)
    complete = [sum(s) for s in pairs.values() if len(s) == 2]
    return elo.pentanomial(complete) if complete else None


def evaluate(
    make_player: Callable[[], Player],
    learner_name: str,
    rungs: list[Rung],
    calibration: Calibration,
    eval_cfg: Any,
    rules: GameRules,
    stockfish_cfg: Any,
    prior: float | None,
    seed: int,
    on_game: Callable[[GameSpec, chess.pgn.Game], None] | None = None,
    progress: bool = True,
    headers: dict[str, str] | None = None,
    concurrency: int = 1,
) -> Evaluation:
    """Play `eval_cfg.games` games in `eval_cfg.rounds` rounds against bracketing rungs; fit the rating."""
    openings = load_openings(eval_cfg.openings)
    total_pairs = max(1, int(eval_cfg.games) // 2)
    rounds = max(1, min(int(eval_cfg.rounds), total_pairs))
    by_name = {r.name: r for r in rungs}
    factories: dict[str, Callable[[], Player]] = {LEARNER_KEY: make_player}
    for rung in rungs:
        factories[rung.name] = (lambda r: lambda: make_rung_player(r, stockfish_cfg, seed))(rung)
    games: list[chess.pgn.Game] = []
    stats = MatchStats()
    estimate_value = prior
    index = 0
    for round_number in range(rounds):
        pairs_left = total_pairs - index // 2
        pairs_now = pairs_left // (rounds - round_number)
        bracket = choose_bracket(estimate_value, rungs, calibration, max(1, int(eval_cfg.rungs)))
        specs: list[GameSpec] = []
        for k in range(pairs_now):
            rung = bracket[k % len(bracket)]
            specs += paired_specs(LEARNER_KEY, rung.name, openings, 1, seed, start_index=index,
                                  opening_offset=seed + index // 2,
                                  headers={**(headers or {}), "Rung": rung.name})
            index += 2
        round_games, round_stats = play_match(
            specs, factories, rules, concurrency=concurrency, on_game=_renamed(on_game, learner_name),
            stockfish_path=stockfish_cfg.path, move_timeout=stockfish_cfg.move_timeout, progress=progress,
            description=f"eval round {round_number + 1}/{rounds}",
        )
        games += round_games
        stats.games += round_stats.games
        stats.engine_restarts += round_stats.engine_restarts
        stats.events += round_stats.events
        estimate_value = fit_games(games, learner_name, calibration, False).elo
    estimate = fit_games(games, learner_name, calibration, bool(eval_cfg.include_calibration_error))
    per_rung = _per_rung(games, learner_name, calibration)
    edge = _edge(estimate, per_rung, rungs, calibration)
    if edge:
        log.warning("the player is %s of the ladder: its Elo is a bound, not an estimate", edge.replace("_", " "))
    return Evaluation(estimate, edge, games, per_rung, pentanomial_of(games, learner_name), stats,
                      _player_totals(games, learner_name))


def _renamed(on_game: Callable[[GameSpec, chess.pgn.Game], None] | None,
             learner_name: str) -> Callable[[GameSpec, chess.pgn.Game], None]:
    """Name the learner's side in the PGN before the game is recorded."""

    def callback(spec: GameSpec, game: chess.pgn.Game) -> None:
        for side in ("White", "Black"):
            if game.headers[side] != game.headers.get("Rung"):
                game.headers[side] = learner_name
        if on_game is not None:
            on_game(spec, game)

    return callback


def _per_rung(games: list[chess.pgn.Game], learner_name: str, calibration: Calibration) -> dict[str, dict[str, float]]:
    table: dict[str, dict[str, float]] = {}
    for rung, score, _ in learner_side_scores(games, learner_name):
        row = table.setdefault(rung, {"games": 0, "score": 0.0, "rung_elo": calibration.elo(rung)})
        row["games"] += 1
        row["score"] += score
    return table


def _edge(estimate: elo.Estimate, per_rung: dict[str, dict[str, float]], rungs: list[Rung],
          calibration: Calibration) -> str | None:
    ordered = sorted(rungs, key=lambda r: calibration.elo(r.name))
    top, floor = ordered[-1].name, ordered[0].name
    if top in per_rung and per_rung[top]["score"] == per_rung[top]["games"]:
        return "above_top"
    if floor in per_rung and per_rung[floor]["score"] == 0:
        return "below_floor"
    return None


def _player_totals(games: list[chess.pgn.Game], learner_name: str) -> dict[str, float]:
    totals: dict[str, float] = defaultdict(float)
    for game in games:
        side = "White" if game.headers["White"] == learner_name else "Black"
        for name in PLAYER_STAT_FIELDS:
            totals[name.lower()] += float(game.headers.get(f"{side}{name}", 0))
    return dict(totals)
