"""Does a trained agent convert? A checkpoint against the uniformly random mover, played to mate (issue 18).

    .venv/bin/python benchmarks/conversion.py results/mcts/<timestamp>/checkpoint.pt [--games 100] [--simulations N]

Loads a run's checkpoint (its learner and config come from the checkpoint and the run's `config.yaml` beside it,
as `bench.uci` loads one), and plays `--games` games against the random mover by python-chess's rules, as under
the default rule set `mate`: checkmate wins; stalemate, threefold repetition, fifty moves and insufficient
material draw at once; the ply cap (`--max-plies`, 400 as in `eval=default`) is a draw; nothing is adjudicated.
Games come in pairs: each pair starts from the same `--opening-plies` uniformly random plies, once with each
colour, and the random mover's seed depends only on the game, so the same games are offered to every agent.

In the same run and with the same seeds it plays the learner's untrained agent: the same config and seed with a
fresh network (for mcts, the very network the run started from). It prints wins (checkmates), draws by kind,
losses, the win rate (Wilson 95% interval), the score (95% interval from the pairs' variance) and the difference
in win rate between the two agents (95% interval from the per-pair differences). `--json PATH` writes all of it.

Learner-generic: any learner whose `make_player()` plays its current policy (mcts, rlvr; `--simulations` sets
`learner.eval_simulations` where the learner has it). Extra `key=value` arguments override the learner config
(e.g. `learner.eval_leaves_per_step=1`). Games run in `--workers` processes (default: the machine's cores).
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing as mp
import os
import sys
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import chess
import numpy as np

from bench.cpus import available_cpus
from bench.elo import wilson
from bench.games import GameRules, Opening, play_game, white_score
from bench.players import Player, RandomPlayer

DRAW_KINDS = ("stalemate", "threefold_repetition", "fifty_moves", "insufficient_material", "ply_cap")
"""The ways a game against the random mover is drawn under rule set `mate`."""


@dataclass
class Summary:
    """One agent's games against the random mover."""

    agent: str
    games: int = 0
    wins: int = 0
    losses: int = 0
    draws: dict[str, int] = field(default_factory=lambda: {k: 0 for k in DRAW_KINDS})
    win_rate: float = 0.0
    win_rate_ci: tuple[float, float] = (0.0, 0.0)
    score: float = 0.0
    score_ci: tuple[float, float] = (0.0, 0.0)
    mate_plies: float | None = None
    """Mean game length (plies, opening included) of the games the agent won."""
    seconds_per_move: float = 0.0


def mean_interval(values: np.ndarray, z: float = 1.96) -> tuple[float, float, float]:
    """(mean, low, high): the mean of independent units with mean +- z sd / sqrt(n)."""
    mean = float(values.mean())
    half = z * float(values.std(ddof=1)) / math.sqrt(len(values)) if len(values) > 1 else float("inf")
    return mean, mean - half, mean + half


def random_opening(seed: int, pair: int, plies: int) -> Opening:
    """`plies` uniformly random legal moves, reproducible from (seed, pair); never a finished game."""
    rng = np.random.default_rng([seed, pair])
    while True:
        board = chess.Board()
        for _ in range(plies):
            moves = list(board.legal_moves)
            board.push(moves[int(rng.integers(len(moves)))])
            if board.is_game_over():
                break
        if not board.is_game_over():
            return Opening(f"random{plies}-{pair}", tuple(board.move_stack))


# --- loading an agent --------------------------------------------------------------------------------------------

def load_config(checkpoint: Path | None, learner: str | None, overrides: list[str]) -> Any:
    """The config the checkpoint's run was made with: defaults for its learner, then the run's `config.yaml`
    (learner section and seed) when it lies beside the checkpoint, then `overrides`."""
    from omegaconf import OmegaConf

    from bench.cli import compose_or_exit
    from bench.errors import BenchError
    from bench.results import load_checkpoint

    saved: dict[str, Any] = {}
    if checkpoint is not None:
        state = load_checkpoint(checkpoint)
        name = state.get("learner_name") or learner
        if learner and name != learner:
            raise BenchError(f"checkpoint {checkpoint} is a {name} learner, not {learner}")
        run_config = checkpoint.parent / "config.yaml"
        if run_config.is_file():
            saved = OmegaConf.to_container(OmegaConf.load(run_config), resolve=False)  # type: ignore[assignment]
        learner = name
    if not learner:
        raise BenchError("give a checkpoint or --learner")
    cfg = compose_or_exit([f"learner={learner}"])
    OmegaConf.set_struct(cfg, False)
    if saved.get("learner"):
        cfg.learner = OmegaConf.merge(cfg.learner, saved["learner"])
    if "seed" in saved:
        cfg.seed = int(saved["seed"])
    return OmegaConf.merge(cfg, OmegaConf.from_dotlist(overrides))


def build_player(cfg: Any, checkpoint: Path | None, trained: bool) -> tuple[Player, Any]:
    """(player, learner): the configured learner with the checkpoint loaded (`trained`) or fresh."""
    from bench.compute import ComputeMeter
    from bench.learners import LearnerContext, learner_class
    from bench.results import load_checkpoint

    context = LearnerContext(meter=ComputeMeter(), seed=int(cfg.seed), runtime=cfg.runtime, stockfish=cfg.stockfish,
                             rungs=list(cfg.ladder.rungs), llm=cfg.get("llm"), run_dir=None, progress=False)
    learner = learner_class(cfg.learner.name)(cfg.learner, context)
    if trained and checkpoint is not None:
        learner.load_state_dict(load_checkpoint(checkpoint)["learner"])
    return learner.make_player(), learner


_AGENTS: dict[str, Player] = {}


def _init_worker(config_yaml: str, checkpoint: str | None, agents: list[str]) -> None:
    import torch
    from omegaconf import OmegaConf

    torch.set_num_threads(1)
    cfg = OmegaConf.create(config_yaml)
    path = Path(checkpoint) if checkpoint else None
    for agent in agents:
        _AGENTS[agent] = build_player(cfg, path, trained=agent == "trained")[0]


def _play(job: tuple[str, int, Opening, bool, int, int]) -> dict[str, Any]:
    """One game of `agent` against the random mover; the agent plays White unless `swap`."""
    agent, index, opening, swap, seed, max_plies = job
    player = _AGENTS[agent]
    rnd = RandomPlayer(seed=seed)
    white, black = (rnd, player) if swap else (player, rnd)
    rules = GameRules(name="mate", max_plies=max_plies, adjudicate=False, at_ply_cap="draw")
    start = time.perf_counter()
    game = play_game(white, black, opening, rules, seed=seed)
    seconds = time.perf_counter() - start
    score = white_score(game.headers["Result"])
    plies = int(game.headers["PlyCount"])
    return {"agent": agent, "index": index, "score": 1.0 - score if swap else score,
            "termination": game.headers["Termination"], "plies": plies, "seconds": seconds,
            "final_fen": game.end().board().fen(),
            "agent_moves": (plies - len(opening.moves) + (0 if swap else 1)) // 2}


def summarise(agent: str, results: list[dict[str, Any]]) -> Summary:
    s = Summary(agent=agent, games=len(results))
    won = [r for r in results if r["score"] == 1.0]
    s.wins, s.losses = len(won), sum(r["score"] == 0.0 for r in results)
    for r in results:
        if r["score"] == 0.5:
            kind = r["termination"] if r["termination"] in DRAW_KINDS else "other"
            s.draws[kind] = s.draws.get(kind, 0) + 1
    s.win_rate = s.wins / max(s.games, 1)
    s.win_rate_ci = wilson(s.wins, s.games)
    pairs = _pair_values(results, lambda r: r["score"])
    s.score, low, high = mean_interval(pairs / 2) if len(pairs) else (0.0, 0.0, 1.0)
    s.score_ci = (max(0.0, low), min(1.0, high))
    s.mate_plies = float(np.mean([r["plies"] for r in won])) if won else None
    moves = sum(r["agent_moves"] for r in results)
    s.seconds_per_move = sum(r["seconds"] for r in results) / max(moves, 1)  # the random mover's time is ~0
    return s


def _pair_values(results: list[dict[str, Any]], value: Any) -> np.ndarray:
    """The sum of `value` over each pair's two games (games 2k and 2k+1), pairs complete only."""
    by_index = {r["index"]: value(r) for r in results}
    return np.array([by_index[2 * k] + by_index[2 * k + 1] for k in range(len(by_index) // 2)
                     if 2 * k in by_index and 2 * k + 1 in by_index], dtype=float)


def win_difference(a: list[dict[str, Any]], b: list[dict[str, Any]]) -> tuple[float, float, float]:
    """Win rate of `a` minus that of `b` with its 95% interval, paired by game pair (same openings and seeds)."""
    wa = _pair_values(a, lambda r: float(r["score"] == 1.0))
    wb = _pair_values(b, lambda r: float(r["score"] == 1.0))
    n = min(len(wa), len(wb))
    return mean_interval((wa[:n] - wb[:n]) / 2)


def run(checkpoint: Path | None, learner: str | None, games: int, simulations: int | None, max_plies: int,
        opening_plies: int, seed: int, workers: int, untrained: bool, overrides: list[str]) -> dict[str, Any]:
    from omegaconf import OmegaConf

    from bench.errors import BenchError

    if simulations is not None:
        overrides = overrides + [f"learner.eval_simulations={simulations}"]
    cfg = load_config(checkpoint, learner, overrides)
    if simulations is not None and "eval_simulations" not in cfg.learner:
        raise BenchError(f"learner {cfg.learner.name} has no eval_simulations; leave out --simulations")
    agents = (["trained"] if checkpoint is not None else []) + (["untrained"] if untrained or checkpoint is None else [])
    pairs = (games + 1) // 2
    jobs = []
    for pair in range(pairs):
        opening = random_opening(seed, pair, opening_plies)
        for swap in (False, True):
            index = 2 * pair + int(swap)
            if index < games:
                jobs += [(agent, index, opening, swap, seed * 1_000_003 + index, max_plies) for agent in agents]
    start = time.perf_counter()
    config_yaml = OmegaConf.to_yaml(cfg, resolve=True)
    init = (config_yaml, str(checkpoint) if checkpoint else None, agents)
    if workers <= 1:  # in this process
        _init_worker(*init)
        results = [_play(job) for job in jobs]
    else:
        with ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn"), initializer=_init_worker,
                                 initargs=init) as pool:
            results = list(pool.map(_play, jobs, chunksize=1))
    wall = time.perf_counter() - start
    by_agent = {a: [r for r in results if r["agent"] == a] for a in agents}
    out: dict[str, Any] = {
        "checkpoint": str(checkpoint) if checkpoint else None, "learner": str(cfg.learner.name),
        "seed": int(cfg.seed), "eval_simulations": cfg.learner.get("eval_simulations"), "games": games,
        "max_plies": max_plies, "opening_plies": opening_plies, "game_seed": seed, "workers": workers,
        "wall_s": round(wall, 1), "load": os.getloadavg(),
        "agents": {a: asdict(summarise(a, r)) for a, r in by_agent.items()},
        "games_played": results,
    }
    if "trained" in by_agent and "untrained" in by_agent:
        out["win_difference"] = win_difference(by_agent["trained"], by_agent["untrained"])
    return out


def print_table(out: dict[str, Any]) -> None:
    sims = out["eval_simulations"]
    print(f"{out['learner']} seed {out['seed']}{f', {sims} simulations' if sims is not None else ''} vs the random "
          f"mover, {out['games']} games to mate ({out['opening_plies']} random opening plies, paired colours, "
          f"{out['max_plies']}-ply cap a draw); {out['wall_s']:.0f} s on {out['workers']} processes, "
          f"load {out['load'][0]:.1f}")
    print(f"{'agent':<10} {'wins':>5} {'stale':>6} {'3fold':>6} {'fifty':>6} {'insuf':>6} {'cap':>5} {'losses':>6}"
          f"  {'win rate [95%]':<22} {'score [95%]':<22} {'plies/win':>9} {'s/move':>7}")
    for a, s in out["agents"].items():
        d = s["draws"]
        plies = f"{s['mate_plies']:.0f}" if s["mate_plies"] is not None else "-"
        print(f"{a:<10} {s['wins']:>5} {d['stalemate']:>6} {d['threefold_repetition']:>6} {d['fifty_moves']:>6} "
              f"{d['insufficient_material']:>6} {d['ply_cap']:>5} {s['losses']:>6}  "
              f"{s['win_rate']:.2f} [{s['win_rate_ci'][0]:.2f}, {s['win_rate_ci'][1]:.2f}]{'':<8} "
              f"{s['score']:.3f} [{s['score_ci'][0]:.3f}, {s['score_ci'][1]:.3f}]   {plies:>9} "
              f"{s['seconds_per_move']:>7.3f}")
    if "win_difference" in out:
        d, lo, hi = out["win_difference"]
        print(f"win rate, trained - untrained: {d:+.2f} [{lo:+.2f}, {hi:+.2f}] (paired by opening and colour)")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("items", nargs="*", metavar="CHECKPOINT | key=value",
                    help="a run's checkpoint.pt (omit with --learner: untrained only), then learner config "
                         "overrides, e.g. learner.eval_leaves_per_step=1")
    ap.add_argument("--learner", help="the learner, when no checkpoint is given (plays the untrained agent only)")
    ap.add_argument("--games", type=int, default=100)
    ap.add_argument("--simulations", type=int, help="learner.eval_simulations (mcts)")
    ap.add_argument("--max-plies", type=int, default=400)
    ap.add_argument("--opening-plies", type=int, default=4)
    ap.add_argument("--seed", type=int, default=0, help="seed of the openings and the random mover")
    ap.add_argument("--workers", type=int, default=available_cpus())
    ap.add_argument("--no-untrained", action="store_true", help="skip the untrained agent")
    ap.add_argument("--json", help="write the figures and every game's result here")
    ap.add_argument("--save", action="store_true",
                    help="also write them into the checkpoint's run directory (conversion/sims<N>-games<G>-seed<S>"
                         ".json), where the report's test-time panel plots the win rate against simulations")
    args = ap.parse_intermixed_args(argv)
    from bench.cli import guarded

    overrides = [item for item in args.items if "=" in item]
    paths = [item for item in args.items if "=" not in item]
    if len(paths) > 1:
        ap.error(f"one checkpoint at most, got {paths}")
    checkpoint = Path(paths[0]) if paths else None
    out = guarded(lambda: run(checkpoint, args.learner, args.games, args.simulations, args.max_plies,
                              args.opening_plies, args.seed, args.workers, not args.no_untrained, overrides))
    print_table(out)
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1))
    if args.save and checkpoint is not None:
        sims = out["eval_simulations"]
        name = f"{f'sims{sims}-' if sims is not None else ''}games{args.games}-seed{args.seed}.json"
        path = checkpoint.parent / "conversion" / name
        path.parent.mkdir(exist_ok=True)
        path.write_text(json.dumps(out, indent=1))
        print(f"saved: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
