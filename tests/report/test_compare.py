"""Scales and comparisons: the ladder error cancels in differences, old records and old calibration files are read
back exactly, and learners on different scales are never compared."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from bench import elo
from bench.report.claims import Analysis, difference_table, final_table
from bench.report.compare import absolute_se, difference, pool, versus_rung
from bench.report.costs import load_settings
from bench.report.loading import load_runs
from bench.report.scales import (OLD_NOT_CANCELLED, OLD_RECONSTRUCTED, Rated, Scale, covariance_of,
                                 locate_calibration, rated_of)
from tests.report.synthetic import CALIBRATION_NAME, config, make_tree, record, write_run

Z = 1.959963984540054
ORDER = ["a", "b", "c", "top"]
SIGMA = np.array([[3.0, 2.0, 1.0, 0.0], [2.0, 2.0, 1.0, 0.0], [1.0, 1.0, 1.0, 0.0], [0.0] * 4]) * 900.0
CHAIN = Scale(key="chain", rules="mate", rules_description="mate", calibration="chain.calibration.json",
              ratings={"a": -300.0, "b": -150.0, "c": 0.0, "top": 150.0}, order=ORDER, cov=SIGMA,
              covariance_source="test")


def test_difference_cancels_the_shared_ladder_error() -> None:
    a = Rated(100.0, 30.0, {"a": 0.5, "b": 0.5}, 0.0, 0.0, 0.0)
    b = Rated(40.0, 40.0, {"a": 0.5, "b": 0.5}, 0.0, 0.0, 0.0)
    d, how = difference(a, b, CHAIN)
    assert d.se == pytest.approx(50.0) and "cancelled" in how  # same weights: only game noise is left
    # Each absolute SE carries w^T Sigma w = 900 * 2.25 = 2025, so "not cancelled" would give sqrt(50^2 + 2 * 2025).
    assert absolute_se(a, CHAIN) == pytest.approx(math.sqrt(900 + 2025))
    c = Rated(40.0, 40.0, {"c": 1.0}, 0.0, 0.0, 0.0)
    d2, _ = difference(a, c, CHAIN)
    expected = elo.rating_difference(100.0, 30.0, a.weights, 40.0, 40.0, c.weights, SIGMA, ORDER)
    assert d2 == expected


def test_a_rung_is_compared_with_its_own_error_cancelled() -> None:
    on_b = Rated(-100.0, 30.0, {"b": 1.0}, 0.0, 0.0, 0.0)
    d, _ = versus_rung(on_b, CHAIN, "b")
    assert d.diff == pytest.approx(50.0) and d.se == pytest.approx(30.0)


def test_pool_of_seeds() -> None:
    seeds = [Rated(-100.0, 40.0, {"a": 1.0}, 0.0, 0.0, 0.0), Rated(-50.0, 30.0, {"b": 1.0}, 0.0, 0.0, 0.0)]
    p = pool(seeds, CHAIN)
    assert p.elo == -75.0 and p.se_games == pytest.approx(25.0)  # sqrt(40^2 + 30^2) / 2
    assert p.weights == {"a": 0.5, "b": 0.5}
    assert p.se == pytest.approx(math.sqrt(625 + 2025))  # the ladder term does not average out


def _adjudicated_like(tmp_path: Path) -> tuple[dict, Path]:
    """An old-format calibration (no covariance, pairs kept) written from a joint fit of simulated games."""
    rng = np.random.default_rng(4)
    true = np.array([-600.0, -350.0, -150.0, 0.0])
    first = np.repeat([0, 1, 2, 0, 1], [60, 60, 60, 30, 30])
    second = np.repeat([1, 2, 3, 2, 3], [60, 60, 60, 30, 30])
    p = elo.expected_score(true[first] - true[second])
    scores = (rng.random(first.size) < p).astype(float)
    fit = elo.fit_joint(first, second, scores, 4, anchor=3)
    names = ["random", "eps90", "eps75", "elo1350"]
    pairs = [{"a": names[i], "b": names[j], "games": int(np.sum((first == i) & (second == j))),
              "score_a": float(scores[(first == i) & (second == j)].sum())}
             for i, j in sorted(set(zip(first.tolist(), second.tolist())))]
    data = {"ladder": "old", "anchor": "elo1350", "rules": "maxplies=300 cap=engine adjudicator=stockfish",
            "ratings": {n: {"elo": float(fit.ratings[i]), "se": float(fit.se[i])} for i, n in enumerate(names)},
            "pairs": pairs}
    path = tmp_path / "ladder" / "old.calibration.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))
    return {"fit": fit, "names": names, **data}, path


def test_old_calibration_covariance_is_rebuilt_from_its_pairs(tmp_path: Path) -> None:
    data, _ = _adjudicated_like(tmp_path)
    order, cov, source = covariance_of(data)
    assert order == data["names"] and "rebuilt" in source
    assert np.allclose(cov, data["fit"].cov, rtol=1e-6, atol=1e-6)  # the joint fit's own covariance, off-diagonal too
    del data["pairs"]
    _, diag, source = covariance_of(data)
    assert "diagonal" in source and np.allclose(diag, np.diag(data["fit"].se ** 2))


def test_old_record_is_reconstructed_exactly(tmp_path: Path) -> None:
    """An old record (absolute SE from fit_player with independent rung errors, per-rung games) gives back the
    game-noise SE and rung weights of the fit without them."""
    data, path = _adjudicated_like(tmp_path)
    ratings = {n: v["elo"] for n, v in data["ratings"].items()}
    ses = {n: v["se"] for n, v in data["ratings"].items()}
    opponents = ["random"] * 10 + ["eps90"] * 20 + ["eps75"] * 10
    scores = [1.0] * 8 + [0.0] * 2 + [1.0] * 9 + [0.5] * 2 + [0.0] * 9 + [1.0] * 2 + [0.0] * 8
    old = elo.fit_player([ratings[o] for o in opponents], scores, opponent_se=[ses[o] for o in opponents])
    plain = elo.fit_player([ratings[o] for o in opponents], scores)
    rec = {"eval_index": 0, "elo": old.elo, "elo_se": old.se, "elo_ci": [old.low, old.high], "edge": None,
           "rungs": {n: {"games": opponents.count(n), "rung_elo": ratings[n]} for n in dict.fromkeys(opponents)},
           "ladder": {"calibration": "default.calibration.json"}}
    found, found_path, how = locate_calibration([rec], tmp_path / "run", tmp_path)
    assert found_path == path and "match" in how
    from bench.report.scales import scale_of
    scale = scale_of([rec], ["maxplies=300 cap=engine adjudicator=stockfish"], found, found_path)
    assert scale.rules == "adjudicated, 300 plies (old)"
    r = rated_of(rec, scale)
    assert r.source == OLD_RECONSTRUCTED
    assert r.se_games == pytest.approx(plain.se, rel=1e-3)
    assert r.weights == pytest.approx(elo.rung_weights(old.elo, opponents, ratings))
    bare = rated_of({**rec, "rungs": {}}, scale)
    assert bare.source == OLD_NOT_CANCELLED and bare.weights == {} and bare.se == old.se


def test_a_changed_calibration_file_is_not_used(tmp_path: Path) -> None:
    run = write_run(tmp_path / "run", [record(0, -500, 100, {}, {"games": 0}, "random", 0)], config("random", 0))
    (run / CALIBRATION_NAME).write_text((run / CALIBRATION_NAME).read_text() + " ")  # edited after the run
    runs = load_runs([tmp_path], conf_dir=None)
    assert runs[0].calibration is None and "no calibration file with the records' sha256" in runs[0].calibration_how


def test_learners_on_different_scales_are_not_compared(tmp_path: Path) -> None:
    write_run(tmp_path / "a", [record(0, -300, 100, {}, {"games": 0}, "mcts", 0)], config("mcts", 0))
    other = {**record(0, -100, 100, {}, {"rollouts": 0}, "rlvr", 0), "rules": "adjudicated"}
    write_run(tmp_path / "b", [other], config("rlvr", 0))
    analysis = Analysis(load_runs([tmp_path]), load_settings())
    (row,) = difference_table(analysis).rows
    assert row[2] == "-" and "different scales" in row[5] and "no verdict" in row[5]
    assert {r[3] for r in final_table(analysis).rows} == {"synthetic", "adjudicated"}  # every Elo names its rules


def test_difference_table_on_the_synthetic_tree(tmp_path: Path) -> None:
    analysis = Analysis(load_runs([make_tree(tmp_path)]), load_settings())
    rows = {r[0]: r for r in difference_table(analysis).rows}
    # mcts (64 sims) final: mean of 100 and 50 = 75, SE 36.1; rlvr: -165, SE 36.1 -> +240, SE 51.0, mdd 143
    mcts_rlvr = rows["mcts vs rlvr"]
    assert mcts_rlvr[2] == "+240 [+140, +340]" and mcts_rlvr[4] == "143"
    assert mcts_rlvr[5].startswith("mcts above rlvr; ladder error cancelled")
