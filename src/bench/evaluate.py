"""Adaptive evaluation: rate a player against the rungs that bracket its current estimate.

The games are played in rounds. Before each round the `eval.rungs` rungs nearest the estimate are chosen (at
least one on each side of it when the ladder allows); after it the estimate is refitted from every game so far
against the rungs' calibrated ratings. A player that beats the top rung in every game, or loses every game to
the random mover, is reported as off the ladder (`edge`), never silently clipped.
"""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
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

    fit: elo.LadderEstimate
    """The rating two ways: `fit.games` given the ladder (game noise only), `fit.absolute` with the ladder's own
    error relative to its anchor (w^T Σ w, Σ the calibration's covariance), and the rung weights w."""
    edge: str | None
    """None; `above_top` / `below_floor` (won every game against the ladder's top rung / lost every game to its
    floor); `above_bracket` / `below_bracket` (won / lost every game, but the ladder's end was not played: the Elo
    is a one-sided bound; play more rounds)."""
    games: list[chess.pgn.Game]
    per_rung: dict[str, dict[str, float]]
    pentanomial: elo.Pentanomial | None
    match: MatchStats
    rules: GameRules
    calibration: Calibration
    player: dict[str, float] = field(default_factory=dict)
    """The evaluated player's totals over its games: moves, nodes, flops, tokens, seconds, illegal, forfeits."""
    stopped: str = "games"
    """Why the evaluation stopped: `games` (played `eval.games`), `target` (reached `eval.target_halfwidth`) or
    `max_games` (hit the cap before reaching the target)."""

    @property
    def estimate(self) -> elo.Estimate:
        """The absolute rating (what `elo`, `elo_ci` and `elo_se` report)."""
        return self.fit.absolute

    def record(self) -> dict[str, Any]:
        """The evaluation's part of a metrics.jsonl record."""
        penta = self.pentanomial
        absolute, given_ladder = self.fit.absolute, self.fit.games
        return {
            "elo": absolute.elo,
            "elo_ci": [absolute.low, absolute.high],
            "elo_se": absolute.se,
            "elo_ci_games": [given_ladder.low, given_ladder.high],
            "elo_se_games": given_ladder.se,
            "ladder_se": self.fit.ladder_se,
            "ladder_weights": self.fit.weights,
            "edge": self.edge,
            "games": len(self.games),
            "stopped": self.stopped,
            "rules": self.rules.name,
            "rules_description": self.rules.describe(),
            "terminations": dict(Counter(g.headers.get("Termination", "") for g in self.games)),
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


def fit_games(games: list[chess.pgn.Game], learner_name: str, calibration: Calibration) -> elo.LadderEstimate:
    """The learner's rating from its games, given the ladder and with the ladder's covariance (`elo.fit_on_ladder`)."""
    scored = learner_side_scores(games, learner_name)
    order, cov = calibration.covariance
    ratings = {name: rating.elo for name, rating in calibration.ratings.items()}
    return elo.fit_on_ladder([rung for rung, _, _ in scored], [s for _, s, _ in scored], ratings, cov, order)


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
    """Play rounds of games against bracketing rungs and fit the rating.

    The first `eval_cfg.games` games are split into `eval_cfg.rounds` rounds. With `eval_cfg.target_halfwidth`
    set, rounds of the same size follow until the 95% interval given the ladder (game noise only) is at most that
    half-width, or `eval_cfg.max_games` are played. The bracket is re-chosen from the estimate before each round.
    """
    openings = load_openings(eval_cfg.openings)
    first_pairs = max(1, int(eval_cfg.games) // 2)
    rounds = max(1, min(int(eval_cfg.rounds), first_pairs))
    round_pairs = max(1, first_pairs // rounds)
    target = eval_cfg.get("target_halfwidth")
    max_pairs = max(first_pairs, int(eval_cfg.get("max_games") or 0) // 2)
    factories: dict[str, Callable[[], Player]] = {LEARNER_KEY: make_player}
    for rung in rungs:
        factories[rung.name] = (lambda r: lambda: make_rung_player(r, stockfish_cfg, seed))(rung)
    games: list[chess.pgn.Game] = []
    stats = MatchStats()
    estimate_value = prior
    index = 0
    round_number = 0
    stopped = "games"
    while True:
        pairs_played = index // 2
        if round_number < rounds:
            pairs_now = (first_pairs - pairs_played) // (rounds - round_number)
        elif target is None or pairs_played >= max_pairs:
            stopped = "games" if target is None else "max_games"
            break
        elif _halfwidth(fit_games(games, learner_name, calibration).games) <= float(target):
            stopped = "target"
            break
        else:
            pairs_now = min(round_pairs, max_pairs - pairs_played)
        bracket = choose_bracket(estimate_value, rungs, calibration, max(1, int(eval_cfg.rungs)))
        specs: list[GameSpec] = []
        for k in range(pairs_now):
            rung = bracket[k % len(bracket)]
            specs += paired_specs(LEARNER_KEY, rung.name, openings, 1, seed, start_index=index,
                                  opening_offset=seed + index // 2,
                                  headers={**(headers or {}), "Rung": rung.name})
            index += 2
        round_number += 1
        label = f"{round_number}/{rounds}" if round_number <= rounds else f"{round_number} (to ±{target})"
        round_games, round_stats = play_match(
            specs, factories, rules, concurrency=concurrency, on_game=_renamed(on_game, learner_name),
            stockfish_path=stockfish_cfg.path, move_timeout=stockfish_cfg.move_timeout, progress=progress,
            description=f"eval round {label}",
        )
        games += round_games
        stats.games += round_stats.games
        stats.engine_restarts += round_stats.engine_restarts
        stats.events += round_stats.events
        estimate_value = fit_games(games, learner_name, calibration).games.elo
    fit = fit_games(games, learner_name, calibration)
    per_rung = _per_rung(games, learner_name, calibration)
    edge = _edge(fit.games, per_rung, rungs, calibration)
    if edge:
        log.warning("the player is %s: its Elo is a bound, not an estimate", edge.replace("_", " "))
    return Evaluation(fit, edge, games, per_rung, pentanomial_of(games, learner_name), stats, rules, calibration,
                      _player_totals(games, learner_name), stopped)


def _halfwidth(estimate: elo.Estimate) -> float:
    return max(estimate.elo - estimate.low, estimate.high - estimate.elo)


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
    """Off the ladder or off the bracket, from the fit's own edge (a perfect or zero total score), never from one
    rung's result: a zero against the floor beside points elsewhere is a finite fit, not an edge."""
    if estimate.edge is None:
        return None
    ordered = sorted(rungs, key=lambda r: calibration.elo(r.name))
    if estimate.edge == "above":
        return "above_top" if ordered[-1].name in per_rung else "above_bracket"
    return "below_floor" if ordered[0].name in per_rung else "below_bracket"


def _player_totals(games: list[chess.pgn.Game], learner_name: str) -> dict[str, float]:
    totals: dict[str, float] = defaultdict(float)
    for game in games:
        side = "White" if game.headers["White"] == learner_name else "Black"
        for name in PLAYER_STAT_FIELDS:
            totals[name.lower()] += float(game.headers.get(f"{side}{name}", 0))
    return dict(totals)
