"""The loop a reader follows: improve -> evaluate -> record -> checkpoint, until the budget is spent.

`run(cfg)` takes a composed config (from Hydra's CLI or `compose()` in tests) and returns the final Elo, so
sweepers and optimisers can use it as an objective.
"""

from __future__ import annotations

import logging
import math
import random
import time
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from omegaconf import DictConfig, OmegaConf

from bench.compute import BUDGET_UNITS, ComputeMeter
from bench.cpus import available_cpus
from bench.errors import BenchError
from bench.evaluate import evaluate
from bench.games import GameRules, load_openings
from bench.ladder import calibration_warnings, check_rules, load_calibration, rungs_from_config
from bench.learners import LearnerContext, learner_class
from bench.players import engine_identity, find_stockfish
from bench.progress import LearningProgress
from bench.report.tracking import open_tracker
from bench.results import RunDir

log = logging.getLogger("bench")

SECRET_KEYS = ("api_key", "token", "password", "secret")


def eval_points(budget: Any) -> list[float]:
    """Budget amounts at which to evaluate: explicit `points`, or `evals` log-spaced points ending at `amount`."""
    if budget.points:
        points = sorted(float(p) for p in budget.points)
        if points[-1] > budget.amount:
            raise BenchError(f"budget.points go past budget.amount={budget.amount}")
        return points
    if budget.evals < 1:
        raise BenchError(f"budget.evals={budget.evals}; it must be at least 1")
    if budget.evals == 1:
        return [float(budget.amount)]
    if not 0 < budget.first < 1:
        raise BenchError(f"budget.first={budget.first}; it must lie in (0, 1)")
    return [float(x) for x in np.geomspace(budget.first * budget.amount, budget.amount, budget.evals)]


def validate(cfg: DictConfig) -> None:
    """Checks a schema cannot express; each failure is one line naming the field and the fix."""
    if cfg.budget.unit not in BUDGET_UNITS:
        raise BenchError(f"budget.unit={cfg.budget.unit!r}; choose one of {', '.join(BUDGET_UNITS)}")
    if not (cfg.budget.amount > 0 and math.isfinite(cfg.budget.amount)):  # inf: a run that never ends
        raise BenchError(f"budget.amount={cfg.budget.amount}; it must be a positive, finite number")
    if cfg.eval.games < 2 or cfg.eval.games % 2:
        raise BenchError(f"eval.games={cfg.eval.games}; it must be an even number >= 2 (paired games)")
    if cfg.eval.rungs < 1:
        raise BenchError(f"eval.rungs={cfg.eval.rungs}; it must be at least 1")
    if cfg.runtime.kind not in ("local", "ray"):
        raise BenchError(f"runtime.kind={cfg.runtime.kind!r}; choose local or ray")
    if cfg.eval.max_plies < 1:
        raise BenchError(f"eval.max_plies={cfg.eval.max_plies}; it must be positive")
    target = cfg.eval.get("target_halfwidth")
    if target is not None and not (target > 0 and math.isfinite(target)):
        raise BenchError(f"eval.target_halfwidth={target}; it must be a positive number of Elo (or null)")
    if cfg.eval.get("max_games", 0) < 0:
        raise BenchError(f"eval.max_games={cfg.eval.max_games}; it must be >= 0")


def public_config_yaml(cfg: DictConfig) -> str:
    """The resolved config as YAML with anything secret-looking removed (API keys live in the environment)."""
    data = OmegaConf.to_container(cfg, resolve=True)

    def scrub(node: Any) -> Any:
        if isinstance(node, dict):
            return {k: ("<redacted>" if any(s in str(k).lower() for s in SECRET_KEYS) and not str(k).endswith("_env")
                        and v is not None else scrub(v)) for k, v in node.items()}
        if isinstance(node, list):
            return [scrub(v) for v in node]
        return node

    return OmegaConf.to_yaml(OmegaConf.create(scrub(data)))


def _cores() -> int:
    return available_cpus()


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    try:
        import torch

        torch.manual_seed(seed)
    except ImportError:
        pass


def run(cfg: DictConfig, run_dir: str | Path | None = None) -> dict[str, Any]:
    """Train `cfg.learner` until its budget is spent, evaluating at the budget's points; return the final Elo."""
    validate(cfg)
    rungs = rungs_from_config(cfg.ladder)
    rules = GameRules.from_config(cfg.eval)
    load_openings(cfg.eval.openings)
    calibration = load_calibration(cfg.ladder, rungs, rules.name)
    binary = find_stockfish(cfg.stockfish.path)
    rules_warning = check_rules(calibration, rules, bool(cfg.eval.allow_uncalibrated_rules))
    calibration_sha = calibration.sha256
    points = eval_points(cfg.budget)
    concurrency = int(cfg.eval.concurrency) or _cores()
    if cfg.runtime.torch_threads:
        import torch

        torch.set_num_threads(int(cfg.runtime.torch_threads))

    target = Path(run_dir or cfg.run_dir or "results/run")
    if cfg.resume:
        run_files, state = RunDir.open_for_resume(target)
    else:
        run_files, state = RunDir.create(target, public_config_yaml(cfg)), None
    log_handler = _attach_log_file(run_files.path)
    for warning in calibration_warnings(calibration, rungs, rules, engine_identity(binary)) + [rules_warning]:
        if warning:
            log.warning(warning)
    tracker = open_tracker(cfg.tracker, run_files.path, yaml.safe_load(public_config_yaml(cfg)))

    meter = ComputeMeter()
    _seed_everything(cfg.seed)
    context = LearnerContext(meter=meter, seed=int(cfg.seed), runtime=cfg.runtime, stockfish=cfg.stockfish,
                             rungs=list(cfg.ladder.rungs), llm=cfg.get("llm"), run_dir=run_files.path,
                             progress=bool(cfg.progress))
    learner = learner_class(cfg.learner.name)(cfg.learner, context)
    done_evals, last = 0, None
    if state is not None:
        learner.load_state_dict(state["learner"])
        meter.load_state_dict(state["meter"])
        done_evals, last = int(state["evals_done"]), state.get("last")
        _restore_rng(state["rng"])
        log.info("resumed %s after %d evaluations", run_files.path, done_evals)
    schedule = ([0.0] if cfg.budget.eval_at_start else []) + points
    progress = LearningProgress(cfg.budget.unit, float(cfg.budget.amount), bool(cfg.progress))
    train_metrics = getattr(learner, "train_metrics", lambda: {})
    try:
        for index in range(done_evals, len(schedule)):
            target_amount = schedule[index]
            while meter.spent(cfg.budget.unit) < target_amount:
                learner.improve()
                progress.update(meter.spent(cfg.budget.unit), train_metrics())
            prior = last["elo"] if last and math.isfinite(last["elo"]) else None
            with meter.paused():
                start = time.perf_counter()
                result = evaluate(
                    learner.make_player, f"{cfg.learner.name}@{index}", rungs, calibration, cfg.eval, rules,
                    cfg.stockfish, prior, seed=int(cfg.seed) * 7919 + index,
                    on_game=lambda spec, game: run_files.append_game(game),
                    progress=bool(cfg.progress), headers={"Event": f"bench eval {index}", "Evaluation": str(index),
                                                          "Learner": str(cfg.learner.name)},
                    concurrency=concurrency,
                )
                eval_seconds = time.perf_counter() - start
            record = {
                "eval_index": index,
                "learner": str(cfg.learner.name),
                "seed": int(cfg.seed),
                "budget": {"unit": cfg.budget.unit, "spent": meter.spent(cfg.budget.unit), "point": target_amount},
                **meter.snapshot(),
                **result.record(),
                "eval_seconds": round(eval_seconds, 3),
                "learner_info": learner.eval_info(),
                "ladder": {"name": str(cfg.ladder.name), "calibration": str(calibration.path.name),
                           "calibration_sha256": calibration_sha, "rule_set": calibration.raw.get("rule_set"),
                           "covariance": calibration.covariance_source,
                           "stockfish": calibration.stockfish.get("name")},
                "time": time.strftime("%Y-%m-%dT%H:%M:%S"),
            }
            run_files.append_metrics(record)
            if tracker is not None:
                tracker.log(record)
            last = {"elo": record["elo"], "elo_ci": record["elo_ci"], "elo_ci_games": record["elo_ci_games"],
                    "rules": record["rules"]}
            run_files.save_checkpoint({"learner": learner.state_dict(), "meter": meter.state_dict(),
                                       "evals_done": index + 1, "last": last, "rng": _rng_state(),
                                       "learner_name": str(cfg.learner.name)})
            _summary(record)
    finally:
        progress.close()
        learner.close()
        if tracker is not None:
            tracker.close()
        logging.getLogger().removeHandler(log_handler)
        try:
            log_handler.close()
        except OSError:  # a full disk: the error that stopped the run (already raised) is the one to report
            pass
    return {"elo": last["elo"] if last else float("nan"), "elo_ci": last["elo_ci"] if last else None,
            "elo_ci_games": (last or {}).get("elo_ci_games"), "rules": (last or {}).get("rules"),
            "run_dir": str(run_files.path)}


def _summary(record: dict[str, Any]) -> None:
    low, high = record["elo_ci"]
    games_low, games_high = record["elo_ci_games"]
    edge = f" ({record['edge'].replace('_', ' ')})" if record["edge"] else ""
    log.info("eval %d: Elo %.0f [%.0f, %.0f]%s (given the ladder [%.0f, %.0f]) from %d games under rules %s | "
             "%s spent %.4g | train %.3g FLOP | wall %.0fs",
             record["eval_index"], record["elo"], low, high, edge, games_low, games_high, record["games"],
             record["rules"], record["budget"]["unit"],
             record["budget"]["spent"], record["compute"]["train_flops"], record["compute"]["wall_s"])


def _rng_state() -> dict[str, Any]:
    import torch

    return {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}


def _restore_rng(state: dict[str, Any]) -> None:
    import torch

    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])


def _attach_log_file(path: Path) -> logging.Handler:
    root = logging.getLogger()
    handler = logging.FileHandler(path / "run.log")
    handler.setFormatter(logging.Formatter("[%(asctime)s][%(name)s][%(levelname)s] %(message)s"))
    root.addHandler(handler)
    if root.level > logging.INFO or root.level == logging.NOTSET:
        root.setLevel(logging.INFO)
    return handler
