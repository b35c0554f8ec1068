"""`bench.calibrate`: pairs, the joint fit and its file, and reuse of unchanged pairs when a rung is added."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from bench.calibrate import calibrate, calibration_pairs
from bench.config import RungConfig
from tests.conftest import compose_config


def test_pairs_are_adjacent_and_next_adjacent() -> None:
    assert calibration_pairs(4) == [(0, 1), (1, 2), (2, 3), (0, 2), (1, 3)]


def tiny_ladder(tmp_path: Path, rungs: list[dict]) -> object:
    cfg = compose_config(["ladder=quick", "eval=quick", "progress=false", "ladder.games_per_pair=2",
                          f"ladder.calibration={tmp_path / 'tiny.json'}", "ladder.anchor=sf", "ladder.anchor_elo=1000"])
    cfg.ladder.rungs = [RungConfig(**r) for r in rungs]
    return cfg


@pytest.mark.stockfish
def test_calibration_file_and_reuse_when_a_rung_is_added(tmp_path: Path) -> None:
    base = [{"name": "random", "kind": "random"},
            {"name": "eps50", "kind": "stockfish", "nodes": 200, "epsilon": 0.5},
            {"name": "sf", "kind": "stockfish", "nodes": 200}]
    cfg = tiny_ladder(tmp_path, base)
    first = calibrate(cfg, games_dir=tmp_path / "g1")
    assert first["games"] == 6 and first["reused_games"] == 0
    saved = json.loads((tmp_path / "tiny.json").read_text())
    assert saved["ratings"]["sf"]["elo"] == 1000 and saved["anchor"] == "sf"
    assert saved["stockfish"]["name"].startswith("Stockfish") and saved["rules"] and saved["command"]
    assert set(saved["rungs"]) == {"random", "eps50", "sf"}

    (tmp_path / "v1.json").write_text((tmp_path / "tiny.json").read_text())
    grown = tiny_ladder(tmp_path, [*base, {"name": "sf400", "kind": "stockfish", "nodes": 400}])
    second = calibrate(grown, games_dir=tmp_path / "g2", reuse=tmp_path / "v1.json")
    assert second["reused_games"] == 6
    assert second["games"] == 6 + 4  # only (eps50, sf400) and (sf, sf400) were played
    assert {(p["a"], p["b"]) for p in second["pairs"]} >= {("eps50", "sf400"), ("sf", "sf400")}
    assert (tmp_path / "g2" / "games.pgn").read_text().count("[Event ") == 10
