"""A small synthetic results tree whose claims table can be computed by hand (see test_claims.py)."""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path
from typing import Any

import yaml

HOSTILE = '<script>alert("x")</script>&"\'><img src=x onerror=alert(1)>$\\frac{1}{0}$'
"""Text a run might carry (config strings, PGN headers, model outputs) that must never become markup."""

RUNGS = {"r0": -800.0, "r1": -400.0, "r2": -200.0, "r3": 0.0, "r4": 200.0}
"""The synthetic ladder: thresholds are the rungs above r0 (-400, -200, 0, 200), anchor r3."""
CALIBRATION_NAME = "synthetic.calibration.json"
CALIBRATION_TEXT = json.dumps({
    "ladder": "synthetic", "rule_set": "synthetic", "rules": "maxplies=160 cap=draw adjudication=off",
    "anchor": "r3", "anchor_elo": 0.0, "rungs": {n: f"rung at {e:.0f}" for n, e in RUNGS.items()},
    "ratings": {n: {"elo": e, "se": 0.0} for n, e in RUNGS.items()},
    "covariance": {"order": list(RUNGS), "matrix": [[0.0] * len(RUNGS) for _ in RUNGS]},
    "stockfish": {"name": "Stockfish 15.1"}, "games": 0,
}, indent=1)
"""A zero covariance, so every interval below is the game-noise one the hand computations in the tests use;
tests of the ladder term (test_compare.py) use their own covariance."""
LADDER = {"name": "synthetic", "calibration": CALIBRATION_NAME, "stockfish": "Stockfish 15.1",
          "calibration_sha256": hashlib.sha256(CALIBRATION_TEXT.encode()).hexdigest()}


def record(index: int, elo: float, half: float, compute: dict[str, float], samples: dict[str, float],
           learner: str, seed: int, info: dict[str, Any] | None = None, edge: str | None = None) -> dict[str, Any]:
    """A record as bench.run writes it, with weight 1 on the nearest rung and +-half as the 95% interval."""
    se = half / 1.959963984540054 if edge is None else math.inf
    nearest = min(RUNGS, key=lambda n: abs(RUNGS[n] - elo))
    return {
        "eval_index": index, "elo": elo, "elo_ci": [elo - half, elo + half], "elo_se": se, "edge": edge,
        "elo_ci_games": [elo - half, elo + half], "elo_se_games": se, "ladder_se": 0.0,
        "ladder_weights": {nearest: 1.0}, "rules": "synthetic", "rules_description": "maxplies=160 cap=draw",
        "games": 8, "rungs": {}, "pentanomial": {}, "learner": learner, "seed": seed,
        "compute": {"train_flops": 0.0, "infer_flops": 0.0, "wall_s": 0.0, "cpu_s": 0.0, "verifier_calls": 0,
                    **compute},
        "samples": samples, "budget": {"unit": "games", "spent": 0, "point": 0},
        "learner_info": info or {}, "ladder": LADDER,
    }


def write_run(path: Path, records: list[dict[str, Any]], config: dict[str, Any],
              pgn_headers: dict[str, str] | None = None) -> Path:
    """A run directory; the ladder's calibration file is written beside it (records name it relative to the run)."""
    path.mkdir(parents=True, exist_ok=True)
    (path / CALIBRATION_NAME).write_text(CALIBRATION_TEXT)
    (path / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    (path / "config.yaml").write_text(yaml.safe_dump(config))
    headers = {"Event": "bench eval 0", "White": "random", "Black": "x", "Result": "1-0", "Opening": "Ruy Lopez",
               "Rules": "maxplies=160", **(pgn_headers or {})}
    game = "".join(f'[{k} "{v}"]\n' for k, v in headers.items()) + "\n1. e4 e5 2. Qh5 Nc6 1-0\n\n"
    (path / "games.pgn").write_text(game * 2)
    return path


def config(learner: str, seed: int, **learner_fields: Any) -> dict[str, Any]:
    return {"learner": {"name": learner, **learner_fields}, "seed": seed, "run_dir": None, "progress": False,
            "ladder": {"name": "quick", "rungs": [{"name": "random", "kind": "random"}]},
            "eval": {"games": 8, "openings": "default", "concurrency": 2}}


MCTS_GAMES = [0, 10, 100, 1000]
MCTS_ELOS = {0: [-600, -450, -150, 100], 1: [-600, -350, -250, 50]}
MCTS16_ELOS = [-600, -500, -300, -100]
RLVR_ROLLOUTS = [0, 100, 1000, 10000]
RLVR_ELOS = {0: [-600, -500, -380, -150], 1: [-600, -550, -420, -180]}
ICL_GAMES = [0, 2, 4, 8]
ICL_ELOS = {"context": [-600, -560, -520, -500], "lora": [-600, -550, -500, -480]}
MCTS_PER_GAME = {"samples.positions": 40, "samples.forward_passes": 640, "compute.train_flops": 5e8,
                 "compute.infer_flops": 5e8, "compute.engine_flops": 0.0}
"""Issue 14's counters per mcts self-play game: 40 positions searched with 16 simulations each, no engine."""
RLVR_PER_ROLLOUT = {"samples.positions": 5, "samples.forward_passes": 3, "compute.train_flops": 1e8,
                    "compute.infer_flops": 1e7, "compute.engine_flops": 2e6}
"""Per rlvr rollout: 5 positions, 3 forward passes, and Stockfish work for its engine-judged rewards."""
KNOWLEDGE = {"mcts": ["material adjudication"], "rlvr": ["engine-judged rewards"]}


def counters(per: dict[str, float], n: float) -> tuple[dict[str, float], dict[str, float]]:
    """The compute and samples blocks of `n` episodes at `per` per episode."""
    compute = {k.split(".")[1]: v * n for k, v in per.items() if k.startswith("compute.")}
    samples = {k.split(".")[1]: v * n for k, v in per.items() if k.startswith("samples.")}
    samples["episodes"] = n
    return compute, samples


def make_tree(root: Path, hostile: bool = False, issue14: bool = True) -> Path:
    """random (floor -600), mcts (2 seeds at 64 simulations, 1 at 16), rlvr (2 seeds), icl (context, lora).

    `issue14`: mcts and rlvr records carry issue 14's counters (MCTS_PER_GAME, RLVR_PER_ROLLOUT) and their outside
    knowledge, from evaluation 0 (at 0) on; False: the records before it (games, 80 positions a game, FLOPs,
    `samples: {}` at evaluation 0, no forward passes, engine FLOPs or outside knowledge)."""
    sweep = root / "multirun" / "2026-01-01_00-00-00"
    n = 0
    for seed in (0, 1):
        recs = [record(i, -600, 150, {"wall_s": i}, {"games": i}, "random", seed) for i in range(2)]
        write_run(sweep / f"{n}_random_seed{seed}", recs, config("random", seed)); n += 1
    for sims, elos_by_seed in ((64, MCTS_ELOS), (16, {0: MCTS16_ELOS})):
        for seed, elos in elos_by_seed.items():
            recs = []
            for i, (g, e) in enumerate(zip(MCTS_GAMES, elos)):
                if issue14:
                    compute, samples = counters(MCTS_PER_GAME, g)
                    samples["games"] = g
                    info = {"eval_simulations": sims, "outside_knowledge": KNOWLEDGE["mcts"]}
                else:
                    compute = {"train_flops": g * 5e8, "infer_flops": g * 5e8}
                    samples = {"games": g, "positions": g * 80} if i else {}
                    info = {"eval_simulations": sims}
                recs.append(record(i, e, 100, {**compute, "wall_s": g / 10}, samples, "mcts", seed, info))
            write_run(sweep / f"{n}_mcts_seed{seed}", recs, config("mcts", seed, eval_simulations=sims)); n += 1
    for seed, elos in RLVR_ELOS.items():
        recs = []
        for i, (r, e) in enumerate(zip(RLVR_ROLLOUTS, elos)):
            if issue14:
                compute, samples = counters(RLVR_PER_ROLLOUT, r)
                info = {"outside_knowledge": KNOWLEDGE["rlvr"]}
            else:
                compute, samples, info = {"train_flops": r * 1e8}, {}, {}
            if r or issue14:
                samples.update({"rollouts": r, "tasks": r / 16, "tokens": r * 30})
            recs.append(record(i, e, 100, {**compute, "wall_s": r / 100}, samples, "rlvr", seed, info))
        write_run(sweep / f"{n}_rlvr_seed{seed}", recs, config("rlvr", seed)); n += 1
    for memory, elos in ICL_ELOS.items():
        label = HOSTILE if hostile and memory == "context" else "game history"
        recs = [record(i, e, 120, {"infer_flops": g * 1e12, "wall_s": g * 30}, {"games": g, "tokens": g * 1000},
                       "icl", 0, {"memory": memory, "history_tokens": g * 900, "note": label})
                for i, (g, e) in enumerate(zip(ICL_GAMES, elos))]
        headers = {"White": HOSTILE, "Opening": HOSTILE} if hostile else None
        write_run(sweep / f"{n}_icl_seed0", recs, config("icl", 0, memory=memory, prompt=label), headers); n += 1
    return sweep
