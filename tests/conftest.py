"""Shared fixtures: composed configs with tiny budgets, a ladder whose games replay, and a quiet environment."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Callable

import pytest
from omegaconf import DictConfig

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")


@pytest.fixture(autouse=True, scope="session")
def _torch_threads() -> None:
    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:
        pass


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config: pytest.Config) -> None:
    """Never hang at exit on a thread a test left running: an engine a failed or timed-out test did not close (a
    python-chess SimpleEngine's thread is not a daemon, so the interpreter would wait for it forever, and CI with
    it). Such threads are named on stderr and the process exits with pytest's status."""
    import sys
    import threading

    left = [t for t in threading.enumerate() if t is not threading.main_thread() and t.is_alive() and not t.daemon]
    if left:
        sys.stderr.write(f"pytest: exiting past {len(left)} thread(s) still running, a resource a test did not close: "
                         f"{', '.join(sorted(t.name for t in left))}\n")
        sys.stdout.flush()
        sys.stderr.flush()
        session = getattr(config, "_bench_session", None)
        os._exit(int(getattr(session, "exitstatus", 0) or 0))


def pytest_sessionstart(session: pytest.Session) -> None:
    session.config._bench_session = session  # type: ignore[attr-defined]  # for its exit status at unconfigure


def compose_config(overrides: list[str]) -> DictConfig:
    from hydra import compose, initialize_config_dir

    from bench.cli import CONFIG_PATH, register

    register()
    with initialize_config_dir(config_dir=CONFIG_PATH, version_base="1.3"):
        return compose(config_name="config", overrides=overrides)


def load_benchmark(name: str):  # noqa: ANN201 - a module loaded by path
    """benchmarks/<name>.py loaded by path (benchmarks/ is not a package), so a test and the script share code."""
    import importlib.util
    import sys

    path = Path(__file__).resolve().parents[1] / "benchmarks" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


TINY = ["ladder=quick", "eval=quick", "progress=false", "eval.concurrency=2"]
"""Overrides every end-to-end test starts from: the quick ladder, 8 games per evaluation."""


@pytest.fixture
def make_cfg() -> Callable[..., DictConfig]:
    def build(*overrides: str) -> DictConfig:
        return compose_config([*TINY, *overrides])

    return build


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    return tmp_path / "run"


DET_LADDER = """
defaults: [base_ladder, _self_]
name: det
calibration: det.calibration.json
anchor: sf
anchor_elo: 1350
rungs:
  - {name: random, kind: random}
  - {name: eps80, kind: stockfish, nodes: 300, epsilon: 0.8}
  - {name: eps40, kind: stockfish, nodes: 300, epsilon: 0.4}
  - {name: sf, kind: stockfish, nodes: 300}
"""
DET_RATINGS = {"random": -600, "eps80": -200, "eps40": 600, "sf": 1350}


def write_det_conf(root: Path, eval_overrides: list[str]) -> Path:
    """A copy of conf/ under `root` with ladder `det`, whose every game is reproducible move for move.

    Stockfish's strength limits (UCI_Elo, Skill Level) pick their weaker moves with a generator seeded from the
    clock, so games against those rungs cannot be replayed. Full-strength node-limited Stockfish with seeded
    ε-mixing can: with it, an interrupted and resumed run must reproduce the uninterrupted one exactly. The
    ratings are placeholders (bookkeeping is under test, not ratings); the calibration records the game rules of
    the evaluation that `eval_overrides` compose, so runs with those settings log no mismatch warning.
    """
    from omegaconf import OmegaConf

    from bench.config import CONF_DIR, LadderConfig
    from bench.games import GameRules
    from bench.ladder import rungs_from_config, time_control
    from bench.players import engine_identity, find_stockfish

    conf = root / "conf"
    shutil.copytree(CONF_DIR, conf)
    (conf / "ladder" / "det.yaml").write_text(DET_LADDER)
    fields = OmegaConf.create(DET_LADDER)
    fields.pop("defaults")
    rungs = rungs_from_config(OmegaConf.merge(OmegaConf.structured(LadderConfig), fields))
    calibration = {
        "ladder": "det", "command": "synthetic (tests/conftest.py write_det_conf)",
        "stockfish": engine_identity(find_stockfish()),
        "rules": GameRules.from_config(compose_config(eval_overrides).eval).describe(), "rungs": time_control(rungs),
        "games_per_pair": 0, "anchor": "sf",
        "ratings": {n: {"elo": e, "se": 50.0, "low": e - 100, "high": e + 100, "nominal": None}
                    for n, e in DET_RATINGS.items()},
    }
    (conf / "ladder" / "det.calibration.json").write_text(json.dumps(calibration))
    return conf
