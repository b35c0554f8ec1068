"""Real runs into the report: a tiny run in-process, a two-point Hydra sweep with the basic launcher, and the
launcher plugins (joblib, Ray on a local cluster, submitit's local executor) and the Optuna sweeper (slow)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from hydra import compose, initialize_config_dir

from bench.cli import CONFIG_PATH, register
from bench.config import CONF_DIR
from bench.report import build_report
from bench.report.loading import load_runs
from bench.run import run
from tests.conftest import compose_config
from tests.report.test_report import assert_png

TINY_RUN = ["ladder=quick", "eval=quick", "eval.games=2", "eval.rungs=1", "eval.concurrency=1", "budget.unit=games",
            "budget.amount=1", "budget.evals=1", "budget.eval_at_start=false", "progress=false", "learner=random"]
"""One evaluation of two games against one rung: the smallest real run."""

LAUNCHERS = sorted(p.stem for p in (CONF_DIR / "hydra" / "launcher").glob("*.yaml"))
SWEEPERS = sorted(p.stem for p in (CONF_DIR / "hydra" / "sweeper").glob("*.yaml"))
PLUGINS = {"parallel": "hydra_joblib_launcher", "slurm": "hydra_submitit_launcher",
           "slurm_local": "hydra_submitit_launcher", "ray_local": "hydra_ray_launcher",
           "ray_cluster": "hydra_ray_launcher", "elo_optuna": "hydra_optuna_sweeper",
           "mcts_optuna": "hydra_optuna_sweeper"}
"""Each example config's plugin (the optional extra `launchers`); its tests skip when it is not installed."""


def needs_plugin(name: str) -> None:
    pytest.importorskip(f"hydra_plugins.{PLUGINS[name]}", reason=f"pip install '.[launchers]' for {name}")


def sweep(tmp_path: Path, *extra: str, seeds: str = "seed=0,1") -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "bench", "-m", *TINY_RUN, seeds, f"hydra.sweep.dir={tmp_path / 'sweep'}", *extra]
    return subprocess.run(command, capture_output=True, text=True, timeout=600)


def check_sweep_report(tmp_path: Path, runs: int = 2) -> None:
    report = build_report([tmp_path / "sweep"], tmp_path / "report")
    assert len(report.runs) == runs
    assert len({r.config_key for r in report.runs}) == 1  # one configuration, seeds aggregated
    assert "elo_vs_wall.png" in report.plots  # the random learner counts no samples (it plays no episodes)
    assert_png(report.plots["elo_vs_wall.png"])


@pytest.mark.parametrize("launcher", LAUNCHERS)
def test_launcher_configs_compose(launcher: str) -> None:
    needs_plugin(launcher)
    register()
    with initialize_config_dir(config_dir=CONFIG_PATH, version_base="1.3"):
        cfg = compose(config_name="config", overrides=[f"hydra/launcher={launcher}"], return_hydra_config=True)
    assert cfg.hydra.launcher._target_.startswith("hydra_plugins.")


@pytest.mark.parametrize("sweeper", SWEEPERS)
def test_sweeper_configs_compose(sweeper: str) -> None:
    needs_plugin(sweeper)
    register()
    with initialize_config_dir(config_dir=CONFIG_PATH, version_base="1.3"):
        cfg = compose(config_name="config", overrides=["learner=mcts", f"hydra/sweeper={sweeper}"],
                      return_hydra_config=True)
    assert cfg.hydra.sweeper.direction == "maximize"  # the app returns the final Elo
    for key in (cfg.hydra.sweeper.params or {}):
        assert key.removeprefix("learner.") in cfg.learner, key  # every tuned field exists in the learner


@pytest.mark.stockfish
def test_report_from_a_real_tiny_run(tmp_path: Path) -> None:
    result = run(compose_config(TINY_RUN), run_dir=tmp_path / "run")
    report = build_report([tmp_path / "run"], tmp_path / "report")
    (only,) = report.runs
    assert only.final["elo"] == pytest.approx(result["elo"])
    assert only.calibration is not None and only.calibration_path.name == "quick.calibration.json"
    assert only.pgn.games == 2 and only.pgn.openings >= 1
    assert "Stockfish 15" in report.index.read_text()
    assert "rules quick" in report.markdown.read_text()  # every Elo says which rules produced it
    assert_png(report.plots["elo_vs_wall.png"])  # the random learner counts no samples (it plays no episodes)


@pytest.mark.stockfish
def test_two_point_sweep_with_the_basic_launcher(tmp_path: Path) -> None:
    done = sweep(tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert sorted(p.name for p in (tmp_path / "sweep").iterdir() if p.is_dir()) == ["0_random_seed0", "1_random_seed1"]
    check_sweep_report(tmp_path)


@pytest.mark.slow
@pytest.mark.stockfish
@pytest.mark.parametrize("launcher", ["parallel", "ray_local", "slurm_local"])
def test_two_point_sweep_with_launcher_plugins(tmp_path: Path, launcher: str) -> None:
    needs_plugin(launcher)
    done = sweep(tmp_path, f"hydra/launcher={launcher}")
    assert done.returncode == 0, done.stderr[-2000:]
    check_sweep_report(tmp_path)


@pytest.mark.slow
@pytest.mark.stockfish
def test_optuna_sweeper_maximises_the_returned_elo(tmp_path: Path) -> None:
    needs_plugin("elo_optuna")
    done = sweep(tmp_path, "hydra/sweeper=elo_optuna", "hydra.sweeper.n_trials=2", seeds="seed=choice(0,1,2)")
    assert done.returncode == 0, done.stderr[-2000:]
    best = yaml.safe_load((tmp_path / "sweep" / "optimization_results.yaml").read_text())
    finals = [r.final["elo"] for r in load_runs([tmp_path / "sweep"])]
    assert len(finals) == 2 and best["best_value"] == pytest.approx(max(finals))
