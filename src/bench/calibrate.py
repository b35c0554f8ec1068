"""`python -m bench.calibrate ladder=NAME [reuse=OLD.calibration.json]`: measure a ladder's ratings and write its calibration file.

Every rung plays its neighbours one and two steps up (paired openings, both colours); all ratings are fitted
jointly by maximum likelihood with one rung (`ladder.anchor`) fixed at `ladder.anchor_elo`. The file records the
Stockfish build, each rung's settings (its time control), the game rules, games per pair, ratings with 95%
intervals next to their nominal UCI_Elo, every pair's score, and the exact command that produced it.
"""

from __future__ import annotations

import json
import logging
import math
import shlex
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import chess.pgn
from omegaconf import DictConfig

from bench import elo
from bench.cli import compose_or_exit, guarded
from bench.errors import BenchError
from bench.games import GameRules, GameSpec, load_openings, paired_specs, play_match, white_score
from bench.ladder import calibration_path, make_rung_player, rungs_from_config, time_control
from bench.players import engine_identity, find_stockfish
from bench.results import RunDir, read_pgn
from bench.run import _cores, public_config_yaml

log = logging.getLogger("bench.calibrate")


def calibration_pairs(count: int, reach: int = 2) -> list[tuple[int, int]]:
    """Adjacent and next-adjacent rung pairs (i, i+1), (i, i+2), ..."""
    return [(i, i + step) for step in range(1, reach + 1) for i in range(count - step)]


def reusable_games(previous: Path, rungs_now: dict[str, str], rules: str) -> list[chess.pgn.Game]:
    """Games of an earlier calibration between rungs whose settings are unchanged, under the same rules.

    `previous` is that calibration's JSON file; its `games_file` is read. Lets a ladder gain a rung without
    replaying the pairs that did not change (the new calibration's games file holds both, so it stays complete).
    """
    try:
        old = json.loads(previous.read_text())
        games_file = Path(old["games_file"])
    except (OSError, ValueError, KeyError) as exc:
        raise BenchError(f"reuse={previous}: not a readable calibration file ({exc})") from exc
    if not games_file.is_absolute():
        games_file = Path.cwd() / games_file
    if not games_file.is_file():
        raise BenchError(f"reuse={previous}: its games file {games_file} is missing")
    if old["rules"] != rules:
        raise BenchError(f"reuse={previous}: its games were played under other rules ({old['rules']})")
    same = {name for name, described in rungs_now.items() if old["rungs"].get(name) == described}
    return [g for g in read_pgn(games_file) if g.headers["White"] in same and g.headers["Black"] in same]


def calibrate(cfg: DictConfig, out: Path | None = None, games_dir: Path | None = None,
              reuse: Path | None = None) -> dict[str, Any]:
    """Play the calibration games, fit the ratings, write the calibration file; return its contents."""
    rungs = rungs_from_config(cfg.ladder)
    names = [r.name for r in rungs]
    if cfg.ladder.anchor not in names:
        raise BenchError(f"ladder.anchor={cfg.ladder.anchor!r} is not a rung of ladder {cfg.ladder.name!r}")
    games_per_pair = int(cfg.ladder.games_per_pair)
    next_pair = cfg.ladder.get("games_per_next_pair")
    games_per_next_pair = games_per_pair if next_pair is None else int(next_pair)
    for key, value in (("games_per_pair", games_per_pair), ("games_per_next_pair", games_per_next_pair)):
        if value < 2 or value % 2:
            raise BenchError(f"ladder.{key}={value}; it must be an even number >= 2")
    rules = GameRules.from_config(cfg.eval)
    openings = load_openings(cfg.eval.openings)
    binary = find_stockfish(cfg.stockfish.path)
    identity = engine_identity(binary)
    out = out or calibration_path(cfg.ladder, rules.name)
    stamp = time.strftime("%Y-%m-%d_%H-%M-%S")
    run = RunDir.create(games_dir or Path("results/calibration") / f"{cfg.ladder.name}_{stamp}", public_config_yaml(cfg))

    reused = reusable_games(reuse, time_control(rungs), rules.describe()) if reuse else []
    for game in reused:
        run.append_game(game)
    played_pairs = {frozenset((g.headers["White"], g.headers["Black"])) for g in reused}
    specs: list[GameSpec] = []
    for a, b in calibration_pairs(len(rungs)):
        if frozenset((names[a], names[b])) in played_pairs:
            continue
        pair_games = games_per_pair if b - a == 1 else games_per_next_pair
        specs += paired_specs(names[a], names[b], openings, pair_games // 2, int(cfg.seed),
                              start_index=len(specs), opening_offset=len(specs) // 2,
                              headers={"Event": f"bench calibration {cfg.ladder.name}"})
    factories = {r.name: (lambda r: lambda: make_rung_player(r, cfg.stockfish, int(cfg.seed)))(r) for r in rungs}
    start = time.perf_counter()
    games, stats = play_match(specs, factories, rules, concurrency=int(cfg.eval.concurrency) or _cores(),
                              on_game=lambda spec, game: run.append_game(game), stockfish_path=cfg.stockfish.path,
                              move_timeout=cfg.stockfish.move_timeout, progress=bool(cfg.progress),
                              description=f"calibrating {cfg.ladder.name}")
    seconds = time.perf_counter() - start
    games = reused + games

    index = {name: i for i, name in enumerate(names)}
    first = [index[g.headers["White"]] for g in games]
    second = [index[g.headers["Black"]] for g in games]
    score = [white_score(g.headers["Result"]) for g in games]
    try:
        fit = elo.fit_joint(first, second, score, len(rungs), index[cfg.ladder.anchor], float(cfg.ladder.anchor_elo))
        prior = None
    except ValueError as exc:  # a separated rung (won or lost every game): say so and regularise
        log.warning("%s; refitting with a weak Gaussian prior (sd 1000 Elo)", exc)
        prior = 1000.0
        fit = elo.fit_joint(first, second, score, len(rungs), index[cfg.ladder.anchor], float(cfg.ladder.anchor_elo),
                            prior_sd=prior)
    ratings = {
        r.name: {"elo": float(fit.ratings[i]), "se": float(fit.se[i]), "low": float(fit.low[i]),
                 "high": float(fit.high[i]), "nominal": r.settings.uci_elo if r.settings.epsilon == 0 else None}
        for i, r in enumerate(rungs)
    }
    pairs = []
    met = {frozenset((g.headers["White"], g.headers["Black"])) for g in games}
    for a, b in [(a, b) for a in range(len(rungs)) for b in range(a + 1, len(rungs))
                 if frozenset((names[a], names[b])) in met]:
        scored = [(s if g.headers["White"] == names[a] else 1 - s) for g, s in zip(games, score)
                  if {g.headers["White"], g.headers["Black"]} == {names[a], names[b]}]
        pairs.append({"a": names[a], "b": names[b], "games": len(scored), "score_a": sum(scored)})
    adjacent = [{"low": names[i], "high": names[i + 1],
                 "diff": float(fit.ratings[i + 1] - fit.ratings[i]),
                 "se": float(math.sqrt(max(0.0, fit.cov[i, i] + fit.cov[i + 1, i + 1] - 2 * fit.cov[i, i + 1])))}
                for i in range(len(rungs) - 1)]
    terminations = Counter(g.headers.get("Termination", "") for g in games)
    result = {
        "ladder": str(cfg.ladder.name),
        "command": "python -m bench.calibrate " + " ".join(shlex.quote(a) for a in sys.argv[1:]),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "stockfish": identity,
        "rules": rules.describe(),
        "rule_set": str(cfg.eval.rules),
        "rungs": time_control(rungs),
        "openings": str(cfg.eval.openings),
        "games_per_pair": games_per_pair,
        "games_per_next_pair": games_per_next_pair,
        "anchor": str(cfg.ladder.anchor),
        "anchor_elo": float(cfg.ladder.anchor_elo),
        "prior_sd": prior,
        "seed": int(cfg.seed),
        "games": len(games),
        "reused_games": len(reused),
        "reused_from": str(reuse) if reuse else None,
        "engine_restarts": stats.engine_restarts,
        "seconds": round(seconds, 1),
        "games_file": str(run.games_path),
        "ratings": ratings,
        "covariance": {"order": names, "matrix": [[float(x) for x in row] for row in fit.cov]},
        "adjacent": adjacent,
        "terminations": dict(terminations),
        "ply_cap_fraction": terminations.get("ply_cap", 0) / max(1, len(games)),
        "pairs": pairs,
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(format_table(result))
    print(f"calibration written to {out} ({len(games)} games in {seconds:.0f} s; games in {run.games_path})")
    return result


def format_table(calibration: dict[str, Any]) -> str:
    lines = [f"{'rung':<10} {'fitted':>8} {'95% interval':>17} {'nominal':>8}  settings"]
    step = {a["high"]: a for a in calibration.get("adjacent", [])}
    for name, r in calibration["ratings"].items():
        nominal = f"{r['nominal']:.0f}" if r["nominal"] is not None else "-"
        anchor = " (anchor)" if name == calibration["anchor"] else ""
        lines.append(f"{name:<10} {r['elo']:8.0f} [{r['low']:7.0f}, {r['high']:7.0f}] {nominal:>8}  "
                     f"{calibration['rungs'][name]}{anchor}")
        if name in step:
            lines[-1] += f"  (+{step[name]['diff']:.0f} ± {step[name]['se']:.0f} over {step[name]['low']})"
    if "ply_cap_fraction" in calibration:
        lines.append(f"games reaching the ply cap: {100 * calibration['ply_cap_fraction']:.1f}%; terminations: "
                     + ", ".join(f"{k or '?'} {v}" for k, v in sorted(calibration["terminations"].items())))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="[%(name)s][%(levelname)s] %(message)s")
    args = list(sys.argv[1:] if argv is None else argv)
    reuse = next((Path(a.split("=", 1)[1]) for a in args if a.startswith("reuse=")), None)
    cfg = compose_or_exit([a for a in args if not a.startswith("reuse=")])
    guarded(lambda: calibrate(cfg, games_dir=Path(cfg.run_dir) if cfg.run_dir else None, reuse=reuse))


if __name__ == "__main__":
    main()
