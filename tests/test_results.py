"""Run directory: torn tails are never data, checkpoints are atomic and checksummed, resume truncates."""

from __future__ import annotations

import json
from pathlib import Path

import chess.pgn
import pytest

from bench.errors import BenchError
from bench.results import RunDir, load_checkpoint, read_jsonl, save_checkpoint


def test_torn_last_line_of_metrics_is_not_data(tmp_path: Path) -> None:
    path = tmp_path / "metrics.jsonl"
    path.write_text(json.dumps({"elo": 1}) + "\n" + json.dumps({"elo": 2}) + "\n" + '{"elo": 3, "ga')
    records, good = read_jsonl(path)
    assert records == [{"elo": 1}, {"elo": 2}]
    assert good == len(path.read_text().rsplit("\n", 1)[0]) + 1


def test_checkpoint_round_trip_and_corruption_is_detected(tmp_path: Path) -> None:
    path = tmp_path / "checkpoint.pt"
    save_checkpoint(path, {"step": 3, "values": [1.0, 2.0]})
    assert load_checkpoint(path) == {"step": 3, "values": [1.0, 2.0]}
    data = bytearray(path.read_bytes())
    data[-5] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(BenchError, match=f"checkpoint {path} is corrupt"):
        load_checkpoint(path)
    path.write_bytes(bytes(data[:20]))
    with pytest.raises(BenchError, match="truncated"):
        load_checkpoint(path)
    path.write_bytes(b"x" * 100)
    with pytest.raises(BenchError, match="not a bench checkpoint"):
        load_checkpoint(path)


def test_failed_checkpoint_write_keeps_the_previous_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "checkpoint.pt"
    save_checkpoint(path, {"step": 1})

    def full_disk(*args: object, **kwargs: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("bench.results.os.replace", full_disk)
    with pytest.raises(BenchError, match="No space left on device"):
        save_checkpoint(path, {"step": 2})
    monkeypatch.undo()
    assert load_checkpoint(path) == {"step": 1}
    assert not list(tmp_path.glob("*.tmp"))


def test_resume_truncates_records_written_after_the_checkpoint(tmp_path: Path) -> None:
    run = RunDir.create(tmp_path / "run", "seed: 0\n")
    run.append_metrics({"eval_index": 0})
    game = chess.pgn.Game()
    game.headers["Result"] = "1-0"
    run.append_game(game)
    run.save_checkpoint({"step": 1})
    run.append_metrics({"eval_index": 1})
    run.append_game(game)
    with open(run.metrics_path, "a") as handle:
        handle.write('{"torn": ')
    resumed, state = RunDir.open_for_resume(tmp_path / "run")
    assert state is not None and state["step"] == 1
    assert resumed.read_metrics() == [{"eval_index": 0}]
    assert len(resumed.read_games()) == 1


def test_create_refuses_to_overwrite_a_run(tmp_path: Path) -> None:
    run = RunDir.create(tmp_path / "run", "a: 1\n")
    run.append_metrics({"x": 1})
    with pytest.raises(BenchError, match="resume=true"):
        RunDir.create(tmp_path / "run", "a: 1\n")
