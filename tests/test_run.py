"""End to end: `python -m bench learner=random` on tiny budgets writes metrics, PGN and config; kill -9 + resume."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bench.ladder import load_calibration, rungs_from_config
from bench.results import RunDir
from bench.run import run
from tests.conftest import write_det_conf
from tests.test_evaluate import check_interval

pytestmark = pytest.mark.stockfish

TIMING_KEYS = {"wall_s", "cpu_s", "eval_seconds", "time", "seconds"}
RANDOM_RUN = ["learner=random", "budget.unit=steps", "budget.amount=4", "budget.evals=2", "budget.first=0.5"]


def strip_timing(node: object) -> object:
    if isinstance(node, dict):
        return {k: strip_timing(v) for k, v in node.items() if k not in TIMING_KEYS}
    if isinstance(node, list):
        return [strip_timing(v) for v in node]
    return node


def test_random_run_writes_metrics_pgn_and_config(make_cfg, run_dir: Path) -> None:
    cfg = make_cfg(*RANDOM_RUN, "eval.games=16")
    result = run(cfg, run_dir=run_dir)
    records = RunDir(run_dir).read_metrics()
    assert [r["eval_index"] for r in records] == [0, 1, 2]
    for record in records:
        for key in ("elo", "elo_ci", "games", "compute", "samples", "rungs"):
            assert key in record
        assert set(record["compute"]) >= {"train_flops", "infer_flops", "wall_s", "cpu_s", "verifier_calls"}
        low, high = record["elo_ci"]
        assert low <= record["elo"] <= high and record["games"] == 16
    assert records[-1]["compute"]["steps"] == 4 and records[-1]["samples"]["positions"] == 0
    games = RunDir(run_dir).read_games()
    assert len(games) == 48
    ratings = {n: r.elo for n, r in load_calibration(cfg.ladder, rungs_from_config(cfg.ladder)).ratings.items()}
    for record in records:  # each interval's width against the analytic SE of its own 16 games
        mine = [g for g in games if int(g.headers["Evaluation"]) == record["eval_index"]]
        name = next(n for g in mine[:1] for n in (g.headers["White"], g.headers["Black"]) if n not in ratings)
        check_interval(record, mine, name, ratings)
    assert all(g.headers["Rules"] and g.headers["Rung"] for g in games)
    assert (run_dir / "config.yaml").read_text().count("learner:") == 1
    assert result["elo"] == records[-1]["elo"]
    # the random learner is the random rung: its estimate lies inside the random rung's calibrated interval
    calibration = load_calibration(cfg.ladder, rungs_from_config(cfg.ladder))
    random_rung = calibration.ratings["random"]
    pooled = [r["elo"] for r in records]
    assert random_rung.low <= sum(pooled) / len(pooled) <= random_rung.high


def _cli(args: list[str], cwd: Path, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "bench", *args], cwd=cwd, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env={**os.environ, **(env or {})})


def _kill_during_second_evaluation(proc: subprocess.Popen[str], run: Path) -> None:
    deadline = time.time() + 300
    while time.time() < deadline:
        metrics = run / "metrics.jsonl"
        if metrics.exists() and metrics.read_text().count("\n") >= 1:
            if (run / "games.pgn").read_text().count("[Event ") > 8:
                break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()


def test_killed_and_resumed_run_ends_with_the_same_records(tmp_path: Path) -> None:
    env = {"BENCH_CONF_DIR": str(write_det_conf(tmp_path, ["eval=quick"]))}
    args = [*RANDOM_RUN, "ladder=det", "eval=quick", "eval.concurrency=2", "progress=false"]
    whole = tmp_path / "whole"
    done = _cli([*args, f"run_dir={whole}"], tmp_path, env)
    assert done.wait(timeout=300) == 0, done.stderr.read()

    killed = tmp_path / "killed"
    proc = _cli([*args, f"run_dir={killed}"], tmp_path, env)
    _kill_during_second_evaluation(proc, killed)
    partial = RunDir(killed).read_metrics()
    assert 1 <= len(partial) < 3
    resumed = _cli([*args, f"run_dir={killed}", "resume=true"], tmp_path, env)
    assert resumed.wait(timeout=300) == 0, resumed.stderr.read()

    a, b = RunDir(whole).read_metrics(), RunDir(killed).read_metrics()
    assert len(a) == len(b) == 3
    assert strip_timing(a) == strip_timing(b)
    key = lambda g: int(g.headers["GameIndex"]) + 1000 * int(g.headers["Evaluation"])  # noqa: E731
    games_a = sorted(RunDir(whole).read_games(), key=key)
    games_b = sorted(RunDir(killed).read_games(), key=key)
    assert len(games_a) == len(games_b) == 24
    assert [str(g.mainline_moves()) for g in games_a] == [str(g.mainline_moves()) for g in games_b]


def test_killed_run_on_a_strength_limited_ladder_loses_and_duplicates_nothing(tmp_path: Path) -> None:
    """On UCI_Elo rungs games are not replayable move for move; the bookkeeping must still be exact."""
    args = [*RANDOM_RUN, "ladder=quick", "eval=quick", "eval.concurrency=2", "progress=false"]
    killed = tmp_path / "killed"
    proc = _cli([*args, f"run_dir={killed}"], tmp_path)
    _kill_during_second_evaluation(proc, killed)
    before = RunDir(killed).read_metrics()
    resumed = _cli([*args, f"run_dir={killed}", "resume=true"], tmp_path)
    assert resumed.wait(timeout=300) == 0, resumed.stderr.read()
    after = RunDir(killed).read_metrics()
    assert [r["eval_index"] for r in after] == [0, 1, 2]
    assert after[: len(before)] == before  # records written before the kill are kept as they were
    games = RunDir(killed).read_games()
    assert sorted((g.headers["Evaluation"], int(g.headers["GameIndex"])) for g in games) == [
        (str(e), i) for e in range(3) for i in range(8)]


def test_rules_the_ladder_was_not_calibrated_for_are_refused_unless_asked_for(make_cfg, run_dir: Path) -> None:
    """The quick ladder was calibrated under rule set `quick` (200-ply cap, played to mate): a score-adjudicated
    evaluation on it is one clear error before anything is written; asked for by name it runs and says so."""
    from bench.errors import BenchError

    adjudicated = ["eval.rules=adjudicated", "eval.adjudication.enabled=true", "eval.adjudication.at_ply_cap=engine"]
    with pytest.raises(BenchError, match="calibrated under the rules .*allow_uncalibrated_rules"):
        run(make_cfg(*RANDOM_RUN, *adjudicated), run_dir=run_dir)
    assert not run_dir.exists()
    run(make_cfg(*RANDOM_RUN, *adjudicated, "budget.evals=1", "budget.eval_at_start=false",
                 "eval.allow_uncalibrated_rules=true"), run_dir=run_dir)
    records = RunDir(run_dir).read_metrics()
    assert records[0]["rules"] == "adjudicated"
    assert "its ratings do not fit these games" in (run_dir / "run.log").read_text()
