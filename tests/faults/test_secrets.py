"""An API key in the environment variable named by `llm.api_key_env` never reaches a file: a full CLI run (debug
logging on, Hydra's own output folder included) against a loopback endpoint, then `python -m bench.report` on it;
every file either writes, and their stdout and stderr, are scanned for the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.faults.conftest import Ledger, bench_cli
from tests.faults.test_llm_faults import KEY, FaultServer, fault_server  # noqa: F401 (fixture)

pytestmark = pytest.mark.stockfish


def test_the_api_key_is_in_no_file_a_run_or_its_report_writes(fault_server: FaultServer, tmp_path: Path,  # noqa: F811
                                                                ledger: Ledger) -> None:
    run_dir = tmp_path / "run"
    args = ["learner=icl", "ladder=quick", "eval=quick", "progress=false", "llm=openai",
            f"llm.base_url={fault_server.url}", "llm.api_key_env=BENCH_FAULT_KEY", "llm.parameters=1000",
            "llm.timeout_s=0.4", "llm.backoff_s=0.01", "llm.retry_after_max_s=0.05", "learner.mode=generate",
            "learner.max_plies=6", "budget.unit=games", "budget.amount=1", "budget.points=[1]", "eval.games=2",
            "eval.max_plies=10", "eval.allow_uncalibrated_rules=true", "hydra.verbose=true", "tracker.kind=tensorboard", f"run_dir={run_dir}"]
    with ledger.fault("API key written to a run file"):
        done = bench_cli(args, tmp_path, env={"BENCH_FAULT_KEY": KEY}, module="bench")
        assert done.returncode == 0, done.stderr[-3000:]
        assert fault_server.keys_seen == {f"Bearer {KEY}"}  # the key was used on every request
        report = bench_cli([str(run_dir), "--out", str(tmp_path / "report")], tmp_path, module="bench.report")
        assert report.returncode == 0, report.stderr[-3000:]
        files = [p for p in tmp_path.rglob("*") if p.is_file()]
        assert {"metrics.jsonl", "games.pgn", "config.yaml", "run.log", "index.html", "report.md"} <= {
            p.name for p in files}
        assert [p for p in files if KEY.encode() in p.read_bytes()] == []
        for stream in (done.stdout, done.stderr, report.stdout, report.stderr):
            assert KEY not in stream
