"""Every config group composes, and bad configs fail with one clear line and exit code 2."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from bench.config import CONF_DIR
from bench.errors import BenchError
from bench.run import eval_points, validate
from tests.conftest import compose_config


def group_options(group: str) -> list[str]:
    return sorted(p.stem for p in (CONF_DIR / group).glob("*.yaml"))


@pytest.mark.parametrize("group", ["learner", "ladder", "eval", "budget", "runtime", "llm"])
def test_every_option_of_every_group_composes(group: str) -> None:
    options = group_options(group)
    if group == "llm" and not options:
        pytest.skip("no llm options yet")
    assert options, f"conf/{group}/ has no yaml files"
    for option in options:
        cfg = compose_config([f"{group}={option}"])
        OmegaConf.to_container(cfg, resolve=True)  # every interpolation resolves
        assert cfg[group] is not None


def test_unknown_key_is_rejected_by_the_schema() -> None:
    with pytest.raises(Exception, match="nonsense"):
        compose_config(["eval.nonsense=3"])


def test_validate_rejects_zero_budget_and_odd_games() -> None:
    with pytest.raises(BenchError, match="budget.amount"):
        validate(compose_config(["budget.amount=0"]))
    with pytest.raises(BenchError, match="eval.games"):
        validate(compose_config(["eval.games=7"]))
    with pytest.raises(BenchError, match="budget.unit"):
        validate(compose_config(["budget.unit=parsecs"]))


def test_eval_points_are_log_spaced_and_end_at_the_budget() -> None:
    cfg = compose_config(["budget.amount=1000", "budget.evals=4", "budget.first=0.001"])
    points = eval_points(cfg.budget)
    assert points == pytest.approx([1, 10, 100, 1000])
    cfg = compose_config(["budget.amount=16", "budget.points=[1,2,4,8,16]"])
    assert eval_points(cfg.budget) == [1, 2, 4, 8, 16]


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "bench", *args], capture_output=True, text=True, cwd=cwd, timeout=120)


@pytest.mark.parametrize(
    "args, needle",
    [
        (["learner=nosuch"], "learner"),
        (["eval.nonsense=1"], "nonsense"),
        (["budget.amount=0"], "budget.amount"),
        (["budget.amount=-5"], "budget.amount"),
        (["stockfish.path=/nonexistent/stockfish"], "apt-get install stockfish"),
        (["ladder.calibration=/nonexistent.json"], "bench.calibrate"),
    ],
)
def test_bad_input_is_one_clear_line_exit_2_and_no_run_dir(tmp_path: Path, args: list[str], needle: str) -> None:
    result = _cli("ladder=quick", *args, "progress=false", f"hydra.run.dir={tmp_path}/out", cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert needle in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_a_ladder_file_that_does_not_parse(tmp_path: Path) -> None:
    conf = tmp_path / "conf"
    subprocess.run(["cp", "-r", str(CONF_DIR), str(conf)], check=True)
    (conf / "ladder" / "broken.yaml").write_text("defaults: [base_ladder\nname: : :\n")
    result = subprocess.run([sys.executable, "-m", "bench", "ladder=broken", "progress=false",
                             f"hydra.run.dir={tmp_path}/out"], capture_output=True, text=True, cwd=tmp_path,
                            env={**__import__("os").environ, "BENCH_CONF_DIR": str(conf)}, timeout=120)
    assert result.returncode == 2
    assert "broken" in result.stderr and "Traceback" not in result.stderr
