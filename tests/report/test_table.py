"""`bench-report --csv/--parquet`: one flat row per evaluation."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from bench.errors import BenchError
from bench.report.table import flat_record, metrics_rows, write_csv, write_parquet

RECORD = {"eval_index": 0, "learner": "mcts", "seed": 1, "elo": -100.5, "elo_ci": [-200.0, 0.0], "edge": None,
          "rungs": {"eps60": {"games": 4, "score": 1.5}}, "compute": {"train_flops": 1e12}, "events": ["a", "b"],
          "budget": {"unit": "positions", "spent": 10, "point": 10.0}, "flag": True}


def _run(folder: Path, records: list[dict], torn: bool = False) -> Path:
    folder.mkdir(parents=True)
    text = "".join(json.dumps(r) + "\n" for r in records) + ('{"eval_index": 9, "el' if torn else "")
    (folder / "metrics.jsonl").write_text(text)
    return folder


def test_flat_record_joins_keys_and_splits_intervals() -> None:
    flat = flat_record(RECORD)
    assert flat["elo_ci_low"] == -200.0 and flat["elo_ci_high"] == 0.0 and "elo_ci" not in flat
    assert flat["rungs.eps60.score"] == 1.5 and flat["compute.train_flops"] == 1e12
    assert flat["events"] == '["a", "b"]'


def test_csv_has_one_row_per_evaluation_of_every_run(tmp_path: Path) -> None:
    _run(tmp_path / "a", [RECORD, {**RECORD, "eval_index": 1, "elo": 50.0}], torn=True)
    _run(tmp_path / "sweep" / "b", [{**RECORD, "seed": 2, "rungs": {"eps45": {"games": 2, "score": 0.0}}}])
    rows = metrics_rows([tmp_path])
    assert len(rows) == 3  # the torn last line of run a is not a row
    out = write_csv(rows, tmp_path / "t.csv")
    with open(out, newline="") as handle:
        table = list(csv.DictReader(handle))
    header = list(table[0])
    assert header[:5] == ["run_dir", "learner", "seed", "eval_index", "budget.unit"]
    assert {"rungs.eps60.score", "rungs.eps45.score"} <= set(header)
    assert [r["elo"] for r in table] == ["-100.5", "50.0", "-100.5"]
    assert table[0]["edge"] == "" and table[0]["flag"] == "true" and table[2]["rungs.eps60.score"] == ""


def test_cli_writes_the_table(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from bench.report.__main__ import main

    run = _run(tmp_path / "r", [RECORD])
    try:
        main([str(run), "--csv", str(tmp_path / "m.csv"), "--out", str(tmp_path / "rep")])
    except Exception:  # the HTML report may refuse a synthetic record; the table is written before it
        pass
    assert (tmp_path / "m.csv").read_text().count("\n") == 2
    assert "table:" in capsys.readouterr().out


def test_no_records_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(BenchError, match="no evaluation records"):
        metrics_rows([tmp_path])


def test_parquet_round_trip(tmp_path: Path) -> None:
    pq = pytest.importorskip("pyarrow.parquet")
    _run(tmp_path / "a", [RECORD, {**RECORD, "elo": 3, "edge": "above_top"}])
    table = pq.read_table(write_parquet(metrics_rows([tmp_path]), tmp_path / "m.parquet"))
    assert table.num_rows == 2
    assert table.column("elo").to_pylist() == [-100.5, 3.0]  # an int and a float make a float column
    assert table.column("edge").to_pylist() == [None, "above_top"]
